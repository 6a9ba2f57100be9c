"""Command handling: load the state, decide, append with the version read.

On a conflict the handler reloads and decides again, a bounded number of times.
A command handled again with the same command id stores nothing more and
returns the first result: event ids are derived from the command id.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from histoire.codec.codec import Codec
from histoire.codec.ids import new_event_id
from histoire.codec.registry import EventRegistry
from histoire.codec.states import decode_state, encode_state
from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.core.errors import (
    CodecError,
    ConcurrencyError,
    DuplicateEventError,
    RetriesExhaustedError,
)
from histoire.core.messages import Event
from histoire.core.recorded import RecordedEvent
from histoire.core.streams import validate_stream_id
from histoire.core.versions import NO_STREAM, ExpectedVersion
from histoire.store.protocol import EventStore, Snapshot

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=Event)

logger = logging.getLogger(__name__)

_COMMAND_NAMESPACE = uuid.UUID("6f1c2d0e-9b7a-4c1e-8f3a-2d5b7e9c1a40")


def event_id_for(command_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the `index`-th event decided for a command: stable across retries."""
    return uuid.uuid5(_COMMAND_NAMESPACE, f"{command_id}/{index}")


@dataclass(frozen=True, slots=True)
class LoadedState(Generic[S]):
    """A stream's state and the version it was folded up to."""

    stream_id: str
    state: S
    version: int
    snapshot_version: int = 0
    """The version of the snapshot the state started from (0: full replay)."""


@dataclass(frozen=True, slots=True)
class CommandResult(Generic[S, E]):
    """What handling a command did: the events stored, the new version and state."""

    stream_id: str
    command_id: uuid.UUID
    events: tuple[RecordedEvent, ...]
    decided: tuple[E, ...]
    version: int
    state: S
    replayed: bool = False
    """True when the command id had been handled before and nothing was stored."""


class CommandHandler(Generic[C, S, E]):
    """Handles commands for the streams of one decider on one store."""

    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S, E],
        *,
        codec: Codec | None = None,
        upcasters: Upcasters | None = None,
        max_retries: int = 3,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        self.store = store
        self.decider = decider
        self.codec = codec or Codec(EventRegistry(decider.events), upcasters)
        self.max_retries = max_retries

    # -- reading ----------------------------------------------------------

    def load(
        self,
        stream_id: str,
        *,
        at_version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> LoadedState[S]:
        """The state of `stream_id`: latest, at version `at_version`, or as of instant `as_of`."""
        validate_stream_id(stream_id)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise ValueError("as_of must be timezone-aware (UTC recommended)")
            return self._load_as_of(stream_id, as_of)
        return self._load(stream_id, at_version)

    def _load(self, stream_id: str, at_version: int | None = None) -> LoadedState[S]:
        # The write path calls this with a stream id it has already validated.
        decider = self.decider
        state: S | None = None
        version = 0
        snapshot_version = 0
        policy = decider.snapshots
        if policy.every is not None and decider.state_type is not None:
            snapshot = self.store.load_snapshot(
                stream_id,
                name=decider.name,
                schema_version=policy.state_schema_version,
                max_version=at_version,
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
        evolve = decider.evolve
        decode = self.codec.decode
        limit = None if at_version is None else max(at_version - version, 0)
        if limit != 0:
            for record in self.store.read_stream(stream_id, from_version=version + 1, limit=limit):
                state = evolve(state, decode(record))  # type: ignore[arg-type]
                version = record.version
        return LoadedState(stream_id, state, version, snapshot_version)

    def _load_as_of(self, stream_id: str, as_of: dt.datetime) -> LoadedState[S]:
        state = self.decider.initial_state()
        version = 0
        for record in self.store.read_stream(stream_id):
            if record.recorded_at > as_of:
                break
            state = self.decider.evolve(state, self.codec.decode(record))  # type: ignore[arg-type]
            version = record.version
        return LoadedState(stream_id, state, version)

    # -- writing ----------------------------------------------------------

    def handle(
        self,
        stream_id: str,
        command: C,
        *,
        command_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommandResult[S, E]:
        """Decide on `command` against the current state of `stream_id` and store the events.

        `causation_id` defaults to the command id; `correlation_id` to the
        causation id. `metadata` (who, from where) is stored with every event.
        """
        validate_stream_id(stream_id)
        given_id = command_id is not None
        command_id = command_id or uuid.uuid4()
        causation = causation_id or command_id
        correlation = correlation_id or causation
        attempts = 0
        while True:
            attempts += 1
            if given_id:
                replay = self._replayed(stream_id, command_id)
                if replay is not None:
                    return replay
            loaded = self._load(stream_id)
            decided = self._decide(command, loaded.state)
            if not decided:
                return CommandResult(stream_id, command_id, (), (), loaded.version, loaded.state)
            new_events = [
                self.codec.encode(
                    event,
                    event_id=event_id_for(command_id, i) if given_id else new_event_id(),
                    metadata=metadata,
                    causation_id=causation,
                    correlation_id=correlation,
                )
                for i, event in enumerate(decided)
            ]
            expected: ExpectedVersion = loaded.version if loaded.version else NO_STREAM
            try:
                appended = self.store.append(stream_id, new_events, expected)
            except ConcurrencyError as conflict:
                if attempts > self.max_retries:
                    raise RetriesExhaustedError(stream_id, attempts, conflict) from conflict
                continue
            state = self.decider.fold(decided, loaded.state)
            self._maybe_snapshot(stream_id, loaded.snapshot_version, appended.version, state)
            return CommandResult(
                stream_id, command_id, appended.events, tuple(decided), appended.version, state
            )

    def _decide(self, command: C, state: S) -> tuple[E, ...]:
        result: Sequence[E] | E = self.decider.decide(command, state)
        if isinstance(result, Event):
            return (result,)
        return tuple(result)

    def _replayed(self, stream_id: str, command_id: uuid.UUID) -> CommandResult[S, E] | None:
        first = self.store.get_event(event_id_for(command_id, 0))
        if first is None:
            return None
        if first.stream_id != stream_id:
            raise DuplicateEventError(
                stream_id,
                first.event_id,
                f"command {command_id} was already handled for {first.stream_id}",
            )
        records: list[RecordedEvent] = []
        for index, record in enumerate(
            self.store.read_stream(first.stream_id, from_version=first.version)
        ):
            if record.event_id != event_id_for(command_id, index):
                break
            records.append(record)
        loaded = self.load(first.stream_id, at_version=records[-1].version)
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

    def _maybe_snapshot(self, stream_id: str, since: int, version: int, state: S) -> None:
        policy = self.decider.snapshots
        if policy.every is None or version - since < policy.every:
            return
        snapshot = Snapshot(
            stream_id=stream_id,
            name=self.decider.name,
            version=version,
            schema_version=policy.state_schema_version,
            data=encode_state(state),
        )
        try:
            self.store.save_snapshot(snapshot)
        except Exception:  # a snapshot is a cache: the command has succeeded anyway
            logger.warning("snapshot of %s at version %d failed", stream_id, version, exc_info=True)
