"""The command handler's logic, free of any I/O style: shared by the sync and async edges.

Loading, deciding, retrying and snapshotting are written once, as generators
that yield the store operations they need (`Request`) and receive their
results. `CommandHandler` runs them against a blocking EventStore,
`AsyncCommandHandler` against an AsyncEventStore: each edge is a driver of a
dozen lines that performs the requests, nothing else.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import uuid
from collections.abc import Generator, Mapping
from typing import Any, Generic, TypeVar

from histoire.app.handler_folds import FoldSteps, read_request
from histoire.app.handler_options import check_handle_options, from_max_retries
from histoire.app.results import CommandResult, LoadedState
from histoire.app.retries import RetryPolicy
from histoire.codec.checks import check_command
from histoire.codec.codec import Codec
from histoire.codec.ids import new_command_id, new_event_id
from histoire.codec.registry import EventRegistry
from histoire.codec.states import decode_state, encode_state_checked
from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.core.errors import (
    CodecError,
    ConcurrencyError,
    DuplicateEventError,
    InvalidInputError,
    RetriesExhaustedError,
)
from histoire.core.messages import Event
from histoire.core.recorded import NewEvent, RecordedEvent
from histoire.core.streams import validate_stream_id
from histoire.core.versions import NO_STREAM, ExpectedVersion
from histoire.store.protocol import DEFAULT_BATCH_SIZE, Snapshot

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=Event)
T = TypeVar("T")

Request = tuple[str, tuple[Any, ...]]
"""A store operation: its name and arguments; the edge performs it and sends back the result.

("read", (stream_id, from_version, limit)): up to `limit` events of the stream
from `from_version`, as a list; ("load_snapshot", (stream_id, name,
schema_version, max_version)); ("get_event", (event_id,)); ("append",
(stream_id, events, expected)); ("save_snapshot", (snapshot,)): the store's
methods of those names; ("sleep", (seconds,)): the retry policy's sleep.
"""
Steps = Generator[Request, Any, T]
"""The handler's logic for one call: yields Requests, returns the call's result."""

PAGE = DEFAULT_BATCH_SIZE
"""Events read per request while folding: memory stays flat on long streams."""

logger = logging.getLogger("histoire.app.handler")

_COMMAND_NAMESPACE = uuid.UUID("6f1c2d0e-9b7a-4c1e-8f3a-2d5b7e9c1a40")


def event_id_for(command_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the `index`-th event decided for a command: stable across retries."""
    return uuid.uuid5(_COMMAND_NAMESPACE, f"{command_id}/{index}")


class HandlerCore(FoldSteps[C, S, E], Generic[C, S, E]):
    """What both command handlers share: the decider, codec and retry policy, and the steps.

    `retry` says how conflicting commands are retried (default: RetryPolicy(),
    backoff with jitter). `max_retries=n` is deprecated: it means
    RetryPolicy(max_attempts=n + 1).
    """

    def __init__(
        self,
        decider: Decider[C, S, E],
        *,
        codec: Codec | None = None,
        upcasters: Upcasters | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
    ) -> None:
        if max_retries is not None:
            retry = from_max_retries(max_retries, retry, type(self).__name__)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInputError(f"retry must be a RetryPolicy, not {type(retry).__qualname__}")
        self.decider = decider
        self.codec = codec or Codec(EventRegistry(decider.events), upcasters)
        self.retry = retry or RetryPolicy()

    # -- reading ----------------------------------------------------------

    def _load_call(
        self, stream_id: str, at_version: int | None, as_of: dt.datetime | None
    ) -> Steps[LoadedState[S]]:
        """The steps of `load`, once its arguments are checked."""
        validate_stream_id(stream_id)
        if as_of is not None:
            if at_version is not None:
                raise InvalidInputError("load takes at_version or as_of, not both")
            if not isinstance(as_of, dt.datetime) or as_of.tzinfo is None:
                raise InvalidInputError(
                    f"as_of must be a timezone-aware datetime (UTC recommended), not {as_of!r}"
                )
            return self._load_as_of(stream_id, as_of)
        if at_version is not None and (
            not isinstance(at_version, int) or isinstance(at_version, bool) or at_version < 0
        ):
            raise InvalidInputError(f"at_version must be None or an int >= 0, not {at_version!r}")
        return self._load(stream_id, at_version)

    def _load(self, stream_id: str, at_version: int | None = None) -> Steps[LoadedState[S]]:
        # Callers have validated the stream id.
        state, version, snapshot_version = yield from self._fold_stream(stream_id, at_version)
        past_end = at_version is not None and version < at_version
        return LoadedState(stream_id, state, version, snapshot_version, past_end)

    def _fold_stream(self, stream_id: str, at_version: int | None) -> Steps[tuple[S, int, int]]:
        """The state of `stream_id` (at `at_version`), its version and the snapshot's.

        A plain tuple: the write path needs no LoadedState (a frozen dataclass
        costs a command 8,000 instructions to build).
        """
        decider = self.decider
        state: S | None = None
        version = 0
        snapshot_version = 0
        policy = decider.snapshots
        if policy.every is not None and decider.state_type is not None:
            snapshot: Snapshot | None = yield (
                "load_snapshot",
                (stream_id, decider.name, policy.state_schema_version, at_version),
            )
            if snapshot is not None:
                try:
                    state = decode_state(snapshot.data, decider.state_type)
                    version = snapshot_version = snapshot.version
                except CodecError:
                    # A snapshot is a cache: one that no longer decodes is replaced
                    # by a full replay, and the next command takes a new one.
                    logger.warning(
                        "snapshot of %s at version %d does not decode as %s; replaying",
                        stream_id,
                        snapshot.version,
                        decider.state_type.__qualname__,
                    )
        if state is None:
            state = decider.initial_state()
        while at_version is None or version < at_version:
            limit = PAGE if at_version is None else min(PAGE, at_version - version)
            count, state, version = yield from self._fold_page(stream_id, state, version, limit)
            if count < limit:
                break
        return state, version, snapshot_version

    def _load_as_of(self, stream_id: str, as_of: dt.datetime) -> Steps[LoadedState[S]]:
        state, version = self.decider.initial_state(), 0
        while True:
            records: list[RecordedEvent] = yield read_request(stream_id, version + 1, PAGE)
            kept = list(itertools.takewhile(lambda r: r.recorded_at <= as_of, records))
            state, version = self._fold(state, version, kept)
            if len(kept) < PAGE:
                return LoadedState(stream_id, state, version)

    # -- writing ----------------------------------------------------------

    def _handle(
        self,
        stream_id: str,
        command: C,
        command_id: uuid.UUID | None,
        causation_id: uuid.UUID | None,
        correlation_id: uuid.UUID | None,
        metadata: Mapping[str, Any] | None,
        new_stream: bool = False,
    ) -> Steps[CommandResult[S, E]]:
        """The steps of `handle`: load, decide, append; on a conflict, sleep and again.

        `new_stream=True` says that `stream_id` should have no events yet (a
        fresh id): the command is decided against the initial state without
        reading the store, and appended with NO_STREAM. If the stream exists
        after all, it is loaded and the command decided again, as after any
        conflict (but without waiting first).
        """
        validate_stream_id(stream_id)
        check_handle_options(command_id, causation_id, correlation_id, metadata)
        command = check_command(command)
        given_id = command_id is not None
        command_id = command_id or new_command_id()
        causation = causation_id or command_id
        correlation = correlation_id or causation
        retry = self.retry
        started = retry.clock()
        attempts = 0
        guess_new = new_stream
        context = (metadata, causation, correlation)
        while True:
            attempts += 0 if guess_new else 1
            if given_id:
                replay = yield from self._replayed(stream_id, command_id)
                if replay is not None:
                    return replay
            if guess_new:
                # Nothing to read in a stream that should not exist yet: a load would
                # cost a query (a round trip on PostgreSQL) to learn that. Only an
                # append with NO_STREAM proves the guess: whatever else comes of the
                # initial state (an error, nothing to store) is checked on the stream.
                current, version, snapshot_version = self.decider.initial_state(), 0, 0
                try:
                    decided, new_events, read_back, state = self._decide(
                        command, current, command_id if given_id else None, *context
                    )
                except Exception:
                    decided = ()
                if not decided:
                    guess_new = False
                    continue
            else:
                current, version, snapshot_version = yield from self._fold_stream(stream_id, None)
                decided, new_events, read_back, state = self._decide(
                    command, current, command_id if given_id else None, *context
                )
                if not decided:
                    return CommandResult(stream_id, command_id, (), (), version, current)
            expected: ExpectedVersion = version if version else NO_STREAM
            try:
                appended = yield ("append", (stream_id, new_events, expected))
            except ConcurrencyError as conflict:
                if guess_new:
                    guess_new = False  # the stream exists: load it and decide again, at once
                    continue
                delay = retry.delay(attempts, started)
                if delay is None:
                    raise RetriesExhaustedError(stream_id, attempts, conflict) from conflict
                yield ("sleep", (delay,))
                continue
            evolve_recorded = self.decider.evolve_recorded
            if evolve_recorded is not None:  # it needs the records: after the append
                state = current
                for back, record in zip(read_back, appended.events, strict=True):
                    state = evolve_recorded(state, back, record)  # type: ignore[arg-type]
            yield from self._maybe_snapshot(stream_id, snapshot_version, appended.version, state)
            return CommandResult(
                stream_id,
                command_id,
                appended.events,
                tuple(read_back),  # type: ignore[arg-type]
                appended.version,
                state,
            )

    def _decide(
        self,
        command: C,
        state: S,
        command_id: uuid.UUID | None,
        metadata: Mapping[str, Any] | None,
        causation: uuid.UUID,
        correlation: uuid.UUID,
    ) -> tuple[tuple[E, ...], list[NewEvent], list[Event], S]:
        """The events decided on `state`, encoded and read back, and the state after them
        (`state` itself when the decider evolves with the records: after the append)."""
        decided = self.decider.decide_events(command, state)
        if not decided:
            return decided, [], [], state
        new_events, read_back = self._encode(decided, command_id, metadata, causation, correlation)
        if self.decider.evolve_recorded is None:
            # Folded before the append: an evolve that fails on these events
            # fails the command with nothing stored, not every later load.
            state = self.decider.fold(read_back, state)  # type: ignore[arg-type]
        return decided, new_events, read_back, state

    def _encode(
        self,
        decided: tuple[E, ...],
        command_id: uuid.UUID | None,
        metadata: Mapping[str, Any] | None,
        causation: uuid.UUID,
        correlation: uuid.UUID,
    ) -> tuple[list[NewEvent], list[Event]]:
        """The events to append, and the decided events as reads will give them back.

        With a command id, event ids derive from it, so that a replay stores nothing.
        """
        new_events = []
        read_back = []
        for i, event in enumerate(decided):
            new, back = self.codec.encode_and_read_back(
                event,
                event_id=new_event_id() if command_id is None else event_id_for(command_id, i),
                metadata=metadata,
                causation_id=causation,
                correlation_id=correlation,
            )
            new_events.append(new)
            read_back.append(back)
        return new_events, read_back

    def _replayed(self, stream_id: str, command_id: uuid.UUID) -> Steps[CommandResult[S, E] | None]:
        first: RecordedEvent | None = yield ("get_event", (event_id_for(command_id, 0),))
        if first is None:
            return None
        if first.stream_id != stream_id:
            raise DuplicateEventError(
                stream_id,
                first.event_id,
                f"command {command_id} was already handled for {first.stream_id}",
            )
        records: list[RecordedEvent] = []
        while True:
            page: list[RecordedEvent] = yield read_request(
                first.stream_id, first.version + len(records), PAGE
            )
            for record in page:
                if record.event_id != event_id_for(command_id, len(records)):
                    break
                records.append(record)
            else:
                if len(page) == PAGE:
                    continue
            break
        loaded = yield from self._load(first.stream_id, records[-1].version)
        decided = tuple(self.codec.decode(r) for r in records)
        return CommandResult(
            first.stream_id,
            command_id,
            tuple(records),
            decided,  # type: ignore[arg-type]
            loaded.version,
            loaded.state,
            replayed=True,
        )

    # -- snapshots ----------------------------------------------------------

    def _snapshot(self, stream_id: str) -> Steps[Snapshot]:
        """The steps of `snapshot`: take one at the latest version now and save it."""
        validate_stream_id(stream_id)
        decider = self.decider
        if decider.state_type is None or decider.snapshots.every is None:
            raise InvalidInputError(
                f"decider {decider.name!r} takes no snapshots: give it a state_type and "
                "snapshots=SnapshotPolicy(every=N)"
            )
        loaded = yield from self._load(stream_id)
        if loaded.version == 0:
            raise InvalidInputError(f"stream {stream_id} has no events: nothing to snapshot")
        snapshot = self._snapshot_of(stream_id, loaded.version, loaded.state)
        yield ("save_snapshot", (snapshot,))
        return snapshot

    def _snapshot_of(self, stream_id: str, version: int, state: S) -> Snapshot:
        decider = self.decider
        assert decider.state_type is not None  # checked by the callers
        return Snapshot(
            stream_id=stream_id,
            name=decider.name,
            version=version,
            schema_version=decider.snapshots.state_schema_version,
            data=encode_state_checked(state, decider.state_type),
        )

    def _maybe_snapshot(self, stream_id: str, since: int, version: int, state: S) -> Steps[None]:
        policy = self.decider.snapshots
        if policy.every is None or version - since < policy.every:
            return
        try:
            yield ("save_snapshot", (self._snapshot_of(stream_id, version, state),))
        except Exception:  # a snapshot is a cache: the command has succeeded anyway
            logger.warning("snapshot of %s at version %d failed", stream_id, version, exc_info=True)
