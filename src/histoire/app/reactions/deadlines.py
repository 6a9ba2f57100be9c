"""Deadlines: a command for later ("cancel the order if unpaid after 30 minutes").

A reaction schedules a deadline with `ctx.schedule(key, after=...)`; the
schedule is an event (`DeadlineScheduled`) on its own stream, `deadline-<id>`,
whose id derives from the reaction and the key, so that the same key names
the same deadline (`ctx.cancel(key)` cancels it: `DeadlineCancelled`).

The scheduler (`DeadlineScheduler`, run by `histoire reactions run`) reads the
deadline streams from the log, keeps the pending ones, and when one is due
stores `DeadlineReached` on its stream, through the deadline's own decider:
a deadline fires once (the decider refuses a second firing, and the firing
command's id derives from the deadline), survives restarts (the schedule is
in the log), and never fires once cancelled. Reactions handle
`DeadlineReached` like any event; a process manager gets it as a command on
its own stream when it scheduled it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import threading
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from histoire.app.follower import ConsumerGroup, Follower
from histoire.app.handler import CommandHandler
from histoire.app.lag import keep_trying
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError, InvalidInputError
from histoire.core.messages import Command, Event
from histoire.core.recorded import START
from histoire.store.protocol import EventStore

CATEGORY = "deadline"
_NAMESPACE = uuid.UUID("9d3c4f1a-6b2e-4e8d-a7c5-1f0e2b3a4c5d")


class ScheduleDeadline(Command):
    owner: str
    key: str
    due_at: dt.datetime
    process: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class CancelDeadline(Command):
    pass


class FireDeadline(Command):
    pass


class DeadlineScheduled(Event):
    type_name: ClassVar[str] = "histoire.DeadlineScheduled"
    owner: str
    key: str
    due_at: dt.datetime
    process: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class DeadlineCancelled(Event):
    type_name: ClassVar[str] = "histoire.DeadlineCancelled"


class DeadlineReached(Event):
    """A deadline came: reactions (or the process manager that set it) act on it."""

    type_name: ClassVar[str] = "histoire.DeadlineReached"
    owner: str
    key: str
    due_at: dt.datetime
    process: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


EVENTS: tuple[type[Event], ...] = (DeadlineScheduled, DeadlineCancelled, DeadlineReached)


class Deadline(msgspec.Struct, frozen=True):
    """A deadline's state: scheduled (what), then cancelled or reached."""

    scheduled: DeadlineScheduled | None = None
    over: bool = False


def _decide(command: Any, deadline: Deadline) -> list[Event]:
    if isinstance(command, ScheduleDeadline):
        if deadline.scheduled is not None:
            return []  # the same key scheduled again: the first schedule stands
        if command.due_at.tzinfo is None:
            raise InvalidCommandError("a deadline's due_at must be timezone-aware")
        return [
            DeadlineScheduled(
                owner=command.owner,
                key=command.key,
                due_at=command.due_at,
                process=command.process,
                payload=command.payload,
            )
        ]
    if deadline.scheduled is None or deadline.over:
        return []  # nothing to cancel or to fire any more
    if isinstance(command, CancelDeadline):
        return [DeadlineCancelled()]
    if isinstance(command, FireDeadline):
        s = deadline.scheduled
        return [
            DeadlineReached(
                owner=s.owner, key=s.key, due_at=s.due_at, process=s.process, payload=s.payload
            )
        ]
    raise InvalidCommandError(f"unknown deadline command {command!r}")


def _evolve(deadline: Deadline, event: Event) -> Deadline:
    if isinstance(event, DeadlineScheduled):
        return Deadline(event)
    return Deadline(deadline.scheduled, over=True)


def make_deadlines() -> Decider[Any, Deadline, Event]:
    """The decider of deadline streams (histoire's own)."""
    return Decider(
        name="deadlines",
        initial_state=Deadline,
        decide=_decide,
        evolve=_evolve,
        events=EVENTS,
    )


def deadline_stream(owner: str, key: str) -> str:
    """The stream of the deadline `key` of reaction `owner`."""
    return f"{CATEGORY}-{uuid.uuid5(_NAMESPACE, f'{owner}/{key}')}"


@dataclass(order=True, frozen=True, slots=True)
class _Pending:
    due_at: dt.datetime
    stream_id: str


class DeadlineScheduler:
    """Fires due deadlines: reads the deadline streams from the log, keeps the pending ones."""

    def __init__(
        self,
        store: EventStore,
        *,
        group: ConsumerGroup | None = None,
        tick: float = 0.05,
    ) -> None:
        if tick <= 0:
            raise InvalidInputError(f"tick must be > 0, not {tick!r}")
        self.store = store
        self.group = group or ConsumerGroup()
        self.tick = tick
        self.handler = CommandHandler(store, make_deadlines())
        self.codec = Codec(EventRegistry(EVENTS))
        self.fired = 0

    def run(self, *, live: bool = False, stop: threading.Event | None = None) -> DeadlineScheduler:
        """Fire what is due (and keep firing as deadlines come, if `live`, until `stop`).

        Live, a database that goes down is waited for; the scan then starts over."""
        stop = stop or threading.Event()

        def attempt() -> bool:
            self._scan(live=live, stop=stop)
            return True

        keep_trying("deadlines", attempt, live=live, stop=stop)
        return self

    def _scan(self, *, live: bool, stop: threading.Event) -> None:
        pending: dict[str, dt.datetime] = {}
        queue: list[_Pending] = []
        follower = Follower(self.store, categories=[CATEGORY], group=self.group)
        for batch in follower.batches(
            START, live=live, stop=stop, heartbeat=self.tick, idle_wait=self.tick
        ):
            for record in batch.events:
                event = self.codec.decode(record)
                if isinstance(event, DeadlineScheduled):
                    pending[record.stream_id] = event.due_at
                    heapq.heappush(queue, _Pending(event.due_at, record.stream_id))
                else:
                    pending.pop(record.stream_id, None)
            self._fire_due(pending, queue)
        if not live:
            self._fire_due(pending, queue)

    @property
    def failure(self) -> None:
        """The scheduler does not stop on a failure of its own: always None."""
        return None

    def _fire_due(self, pending: dict[str, dt.datetime], queue: list[_Pending]) -> None:
        now = dt.datetime.now(dt.UTC)
        while queue and queue[0].due_at <= now:
            due = heapq.heappop(queue)
            if pending.get(due.stream_id) != due.due_at:
                continue  # cancelled or reached already
            self.handler.handle(
                due.stream_id,
                FireDeadline(),
                command_id=uuid.uuid5(_NAMESPACE, f"fire/{due.stream_id}"),
            )
            pending.pop(due.stream_id, None)
            self.fired += 1
