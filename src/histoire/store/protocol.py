"""The EventStore protocol: the one narrow interface every backend implements.

Every backend passes the same contract suite (`histoire.testing.contract`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterator, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from histoire.core.append_result import AppendResult
from histoire.core.recorded import (
    START,
    Checkpoint,
    LogPayloadRow,
    NewEvent,
    PayloadRow,
    RecordedEvent,
)
from histoire.core.versions import ANY, ExpectedVersion

DEFAULT_BATCH_SIZE = 1000


class StreamInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A stream's summary: its category, version and last change."""

    stream_id: str
    category: str
    version: int
    updated_at: dt.datetime


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A cached state of a stream at `version`, encoded at `schema_version`.

    `name` says whose state it is (the decider's name), so that two deciders
    folding the same stream never read each other's snapshots.
    """

    stream_id: str
    name: str = ""
    version: int
    schema_version: int
    data: bytes
    recorded_at: dt.datetime | None = None


@runtime_checkable
class EventStore(Protocol):
    """Append-only storage of events in streams, with a global log."""

    url: str

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append `events` to `stream_id` atomically if its version meets `expected_version`.

        Appending events whose ids are already stored at the same place in the
        same stream, with the same content, returns the first result and writes
        nothing. The result's events carry their metadata as reads give it back
        (through JSON). Raises ConcurrencyError, DuplicateEventError,
        InvalidInputError (InvalidEnvelopeError naming a field the store cannot
        keep, EventTooLargeError over `max_event_size`), ReadOnlyStoreError.
        """
        ...

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        """Events of one stream, forward from `from_version` (default 1) or backward
        from it (default: the last), fetched `batch_size` at a time.

        Versions, limits and batch sizes are ints from 0 (1 for `batch_size`) to
        2**63-1; others raise InvalidInputError.
        """
        ...

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[PayloadRow]:
        """What a fold needs of one stream's events, forward from `from_version`:
        (version, type, schema_version, data) tuples, the same values as
        `read_stream` gives, without building RecordedEvents. Arguments as
        `read_stream`'s.
        """
        ...

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        """The global log strictly after `after`, in log order, optionally filtered by
        stream categories and event types, fetched `batch_size` at a time.

        `categories` and `types` are collections of names: a bare str raises
        InvalidInputError, as does a Checkpoint holding a negative number.
        """
        ...

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[LogPayloadRow]:
        """What a fold of the log needs of its events: (commit, position, stream_id,
        version, type, schema_version, data) tuples, the same events and values as
        `read_log` gives, without building RecordedEvents. Arguments as `read_log`'s.
        """
        ...

    def stream_version(self, stream_id: str) -> int:
        """The number of events in `stream_id` (0 if it does not exist)."""
        ...

    def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        """The stored event with this id, or None."""
        ...

    def list_streams(self, *, category: str | None = None) -> Iterator[StreamInfo]:
        """Every stream (of `category`, if given), by stream id."""
        ...

    def head(self) -> Checkpoint:
        """The checkpoint of the last event a follower can see now (START if none)."""
        ...

    def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        """Block until an event past `after` may be readable, or `timeout` seconds pass.

        Returns True if new events may be there. Followers call it between reads
        instead of polling in a busy loop; a spurious True is allowed.
        `timeout=None` (or infinity) waits without limit; a negative timeout
        looks once without waiting; NaN raises InvalidInputError.
        """
        ...

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store (or replace) the snapshot of a stream at a version."""
        ...

    def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        """The latest snapshot named `name` of `stream_id` at `schema_version`, not past
        `max_version`."""
        ...

    def close(self) -> None:
        """Release connections and threads. The store is unusable afterwards."""
        ...
