"""The follower: reads the global log from a checkpoint, in order, for ever.

Projections, reactions and the relay all read through it. It inherits the
store's guarantees (each stream's events in version order, nothing skipped
once a checkpoint is passed) and adds what they share:

- filters by category and event type, applied by the store;
- consumer groups: member `i` of `n` takes the streams whose stable hash
  (CRC-32 of the UTF-8 stream id) modulo `n` is `i`, so that `n` processes
  split the streams between them without a coordinator and each stream's
  events stay with one member, in order;
- batches: the checkpoint a batch ends at covers the events other members
  or the filters left out, so that a filtered follower's checkpoint still
  reaches the head of the log;
- live following: when the log is exhausted it sleeps on the store's
  `wait_for_events` (LISTEN/NOTIFY on PostgreSQL) until something new may be
  there, or until it is told to stop. A live follower outlives its database
  going down: a read or wait that raises StoreUnavailableError is logged and
  tried again with backoff (0.1 s doubling to 5 s), from where it was, until
  it works or the follower is stopped. A catch-up (not live) raises it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from histoire.app.lag import FIRST_PAUSE, waiting
from histoire.core.errors import InvalidInputError, StoreUnavailableError
from histoire.core.recorded import Checkpoint, RecordedEvent
from histoire.store.protocol import EventStore

Request = tuple[str, tuple[Any, ...], dict[str, Any]]
"""A store method's name, args and kwargs; or ("batch", (Batch,), {})."""

IDLE_WAIT = 1.0
"""Longest sleep between two looks at an idle log, in seconds (a stop is seen sooner)."""


def stream_hash(stream_id: str) -> int:
    """The stable hash consumer groups split streams by: CRC-32 of the UTF-8 stream id."""
    return zlib.crc32(stream_id.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class ConsumerGroup:
    """Member `member` (0-based) of a group of `members` followers sharing one log."""

    member: int = 0
    members: int = 1

    def __post_init__(self) -> None:
        for name in ("member", "members"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError(f"consumer group {name} must be an int, not {value!r}")
        if self.members < 1 or not 0 <= self.member < self.members:
            raise InvalidInputError(
                f"consumer group member {self.member} of {self.members}: need 0 <= member < members"
            )

    def owns(self, stream_id: str) -> bool:
        """Whether this member handles `stream_id`."""
        return self.members == 1 or stream_hash(stream_id) % self.members == self.member

    def __str__(self) -> str:
        return f"{self.member}/{self.members}"


@dataclass(frozen=True, slots=True)
class Batch:
    """Events to handle, and the checkpoint to record once they are handled."""

    events: list[RecordedEvent]
    checkpoint: Checkpoint


class Follower:
    """Reads the log after a checkpoint, in batches, filtered, split by consumer group."""

    def __init__(
        self,
        store: EventStore,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        group: ConsumerGroup | None = None,
        batch_size: int = 1000,
        envelope: bool = True,
    ) -> None:
        if isinstance(categories, str) or isinstance(types, str):
            raise InvalidInputError("categories and types must be collections of str, not a str")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be an int >= 1, not {batch_size!r}")
        self.store = store
        self.categories = None if categories is None else sorted(set(categories))
        self.types = None if types is None else sorted(set(types))
        self.group = group or ConsumerGroup()
        self.batch_size = batch_size
        # Live, the shortest time from a batch with events to the next read: the store's
        # `live_pace` if it has one (SQLite: see there), else none.
        self.pace = float(getattr(store, "live_pace", 0.0))
        # Without `envelope`, a store that can (SQLite) leaves each batch's envelope
        # unread until an event's id, time or metadata is asked for (`Unread`).
        light = not envelope and hasattr(store, "read_log_light")
        self._read_log = "read_log_light" if light else "read_log"
        # Live, woken at the head of the log: the store's one-statement read of a batch,
        # if it has one (PostgreSQL: `read_log_woken`), else `read_log`.
        self.woken_read = "read_log_woken" if hasattr(store, "read_log_woken") else ""

    def batches(
        self,
        after: Checkpoint,
        *,
        live: bool = False,
        stop: threading.Event | None = None,
        idle_wait: float = IDLE_WAIT,
        heartbeat: float | None = None,
    ) -> Iterator[Batch]:
        """Batches of events after `after`; forever if `live` (until `stop` is set).

        Without `live`, it ends once it has reached the head of the log as it
        was when the call began... or any later point: a catch-up.
        A batch may be empty: it then only moves the checkpoint forward, or,
        every `heartbeat` seconds of an idle live follow, says it is alive.
        """
        stop = stop or threading.Event()
        steps = self.steps(after, live, stop.is_set, idle_wait, heartbeat)
        reply: Any = None
        while True:
            try:
                request = steps.send(reply)
            except StopIteration:
                return
            name, args, kwargs = request
            reply = None
            if name == "batch":
                yield args[0]
            elif name == "pause":
                stop.wait(args[0])
            else:
                pause = FIRST_PAUSE
                while True:
                    try:
                        reply = self._call(name, args, kwargs)
                        break
                    except StoreUnavailableError as exc:
                        if not live or stop.is_set():
                            raise
                        pause, waited = waiting(f"following {self.store.url}", exc, pause), pause
                        if stop.wait(waited):
                            return

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The store's answer to a request of `steps`."""
        if name == "read_log":
            return list(getattr(self.store, self._read_log)(*args, **kwargs))
        return getattr(self.store, name)(*args, **kwargs)

    def steps(
        self,
        after: Checkpoint,
        live: bool,
        stopped: Callable[[], bool],
        idle_wait: float,
        heartbeat: float | None,
    ) -> Generator[Request, Any, None]:
        """`batches`' logic, free of any I/O style: yields store requests and batches.

        A request is (store method, args, kwargs), answered with its result
        ("read_log" as a list); ("batch", (Batch,), {}) is a batch to give out;
        ("pause", (seconds,), {}) a sleep (cut short by a stop).
        The blocking `batches` and the asyncio follower (`async_follower`) drive it.
        """
        checkpoint = after
        owns, whole = self.group.owns, self.group.members == 1
        skip_head = False
        woken_read = self.woken_read
        filters = {"categories": self.categories, "types": self.types}
        sizes = {"limit": self.batch_size, "batch_size": self.batch_size}
        found_at = 0.0  # when the last batch with events was done (live)
        pace = self.pace
        while not stopped():
            # The head is read before the log: every event it covers that the
            # filters let through is in the read that follows, so that when the
            # read comes back short, the checkpoint may jump to the head.
            head = None if skip_head else (yield ("head", (), {}))
            read: Request = (
                (woken_read, (checkpoint,), {**filters, "limit": self.batch_size})
                if skip_head and woken_read
                else ("read_log", (checkpoint,), {**filters, **sizes})
            )
            records: list[RecordedEvent] = yield read
            end = records[-1].checkpoint if records else checkpoint
            if head is not None and len(records) < self.batch_size and head > end:
                end = head
            mine = records if whole else [r for r in records if owns(r.stream_id)]
            if mine or end != checkpoint:
                yield ("batch", (Batch(mine, end),), {})
                checkpoint = end
            skip_head = False
            if len(records) == self.batch_size:
                continue
            if not live:
                return
            # Live, woken after a read that found events: read the log without the
            # head (one round trip less between an append and its view). If events
            # the filters leave out lie beyond the checkpoint, the wait returns at
            # once and that read finds nothing: the next one reads the head first
            # and jumps over them.
            skip_head = bool(records)
            idle_since = time.monotonic()
            if records:
                found_at = idle_since
            while not stopped():
                woken = yield ("wait_for_events", (checkpoint, min(idle_wait, 0.25)), {})
                if woken:
                    early = pace - (time.monotonic() - found_at)
                    if early > 0:
                        yield ("pause", (early,), {})  # a flood: let it gather (live_pace)
                    break
                if heartbeat is not None and time.monotonic() - idle_since >= heartbeat:
                    yield ("batch", (Batch([], checkpoint),), {})
                    idle_since = time.monotonic()
