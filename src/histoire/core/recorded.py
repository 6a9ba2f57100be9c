"""The envelope of an event: what is appended, and what a read gives back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from histoire.core.errors import CorruptEventError
from histoire.core.stored_fields import corrupt, problems, to_datetime, to_metadata, to_uuid


class Checkpoint(NamedTuple):
    """Where a follower of the global log stands: resume strictly after it.

    `position` is the event's position in the global log. `commit` orders
    transactions: it is 0 on stores whose writers are serialised (memory,
    SQLite), and the writing transaction's id on PostgreSQL, where followers read
    in (commit, position) order so that an earlier transaction committing late
    is never skipped. Store both numbers; compare checkpoints as tuples.
    """

    commit: int
    position: int


START = Checkpoint(0, 0)
"""The checkpoint before the first event of the log."""


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event ready to append: encoded payload plus its envelope."""

    event_id: uuid.UUID
    type: str
    schema_version: int
    data: bytes
    metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)
    causation_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None


PayloadRow = tuple[int, str, int, bytes]
"""What a fold needs of a stored event: (version, type, schema_version, data)."""

LogPayloadRow = tuple[int, int, str, int, str, int, bytes]
"""What a fold of the log needs of a stored event: (commit, position, stream_id,
version, type, schema_version, data); (commit, position) is its checkpoint."""


class Unread:
    """Stands in for the envelope of a batch of events read without it; reads it on first use.

    A catch-up whose handlers mostly look at the stream, version and payload
    reads the log without the envelope's five columns (0.4 us an event on
    SQLite). Its events hold this object in `event_id`, `recorded_at`,
    `metadata`, `causation_id` and `correlation_id`: the first of these read,
    on any event of the batch, calls `load` once with the batch's positions;
    it gives (position, event_id, recorded_at, metadata, causation_id,
    correlation_id) rows, raw as the store's reads give them. No I/O here: the
    store's `load` does it (so the events need their store open until then).
    It refers to rows of plain values only, never to the events (no cycle).
    """

    __slots__ = ("_at", "_found", "_load", "_rows")

    def __init__(
        self,
        load: Callable[[list[int]], Iterable[Sequence[Any]]],
        rows: list[Sequence[Any]],
        at: int,
    ) -> None:
        self._load = load
        self._rows = rows  # the batch's rows, each with its position at `at`
        self._at = at
        self._found: dict[int, Sequence[Any]] | None = None

    def fill(self, record: RecordedEvent) -> None:
        """Set `record`'s envelope fields (reading the batch's envelopes if not yet read)."""
        found = self._found
        if found is None:
            at, rows = self._at, self._rows
            found = {row[0]: row for row in self._load([row[at] for row in rows])}
            self._found, self._rows = found, []
        row = found.get(record.position)
        if row is None:
            raise corrupt(record, "event_id", None, "the event is no longer in the store")
        (
            _,
            record._event_id,
            record._recorded_at,
            record._metadata,
            record._causation_id,
            record._correlation_id,
        ) = row


_RAW_FIELDS = {
    name: f"_{name}"
    for name in ("event_id", "recorded_at", "metadata", "causation_id", "correlation_id")
}


class _RecordedEventType(msgspec.StructMeta):
    """RecordedEvent's type: takes the public names of the raw fields as keywords too."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            kwargs = {_RAW_FIELDS.get(name, name): value for name, value in kwargs.items()}
        return super().__call__(*args, **kwargs)


class RecordedEvent(
    msgspec.Struct, metaclass=_RecordedEventType, gc=False, eq=False, weakref=False
):
    """A stored event with its place in its stream and in the global log.

    `data` is the payload as stored (JSON bytes, at `schema_version`); a codec
    turns it into a domain event. Backends may hand over ids as 16 raw bytes,
    `recorded_at` as microseconds since the Unix epoch and `metadata` as JSON
    bytes: they are converted on first access, so that a fold that never looks
    at them does not pay for them. A raw value that cannot be converted (a row
    edited behind histoire's back) raises CorruptEventError naming the row.

    A RecordedEvent read by `read_stream` or `read_log` stands on its own:
    every field is read with it, so that it can be used after its store is
    closed. Folds that need only the payloads read `EventStore.read_payloads`
    / `read_log_payloads` rows instead. The one exception: a projection's
    catch-up on SQLite reads the log without the envelope (`Unread`, the
    store's `read_log_light`), which its batch then reads on first use (after
    the store is closed, through a connection of its own, while the file is
    there).

    It is a msgspec Struct, built in C (a catch-up builds one per event: a
    Python `__init__` cost 0.29 us each, this 0.06), and left out of the
    garbage collector's tracking (`gc=False`): it refers to plain values only,
    never back to itself. Stores build it from a row with `build_recorded`.
    """

    _event_id: uuid.UUID | bytes | Unread
    stream_id: str
    version: int
    position: int
    _recorded_at: dt.datetime | int | Unread
    type: str
    schema_version: int
    data: bytes
    _metadata: Mapping[str, Any] | bytes | Unread
    _causation_id: uuid.UUID | bytes | Unread | None
    _correlation_id: uuid.UUID | bytes | Unread | None
    commit: int = 0

    if TYPE_CHECKING:

        def __init__(
            self,
            event_id: uuid.UUID | bytes,
            stream_id: str,
            version: int,
            position: int,
            recorded_at: dt.datetime | int,
            type: str,
            schema_version: int,
            data: bytes,
            metadata: Mapping[str, Any] | bytes,
            causation_id: uuid.UUID | bytes | None,
            correlation_id: uuid.UUID | bytes | None,
            commit: int = 0,
        ) -> None: ...

    @property
    def event_id(self) -> uuid.UUID:
        """The event's unique id."""
        raw = self._event_id
        if not isinstance(raw, uuid.UUID):
            if isinstance(raw, Unread):
                raw.fill(self)
                raw = self._event_id
            raw = self._event_id = to_uuid(self, "event_id", raw)
        return raw

    @property
    def causation_id(self) -> uuid.UUID | None:
        """The id of what caused this event (a command, or another event)."""
        raw = self._causation_id
        if raw is not None and not isinstance(raw, uuid.UUID):
            if isinstance(raw, Unread):
                raw.fill(self)
                return self.causation_id
            raw = self._causation_id = to_uuid(self, "causation_id", raw)
        return raw

    @property
    def correlation_id(self) -> uuid.UUID | None:
        """The id shared by every event of one conversation (the first cause)."""
        raw = self._correlation_id
        if raw is not None and not isinstance(raw, uuid.UUID):
            if isinstance(raw, Unread):
                raw.fill(self)
                return self.correlation_id
            raw = self._correlation_id = to_uuid(self, "correlation_id", raw)
        return raw

    @property
    def recorded_at(self) -> dt.datetime:
        """When the store recorded the event (UTC)."""
        raw = self._recorded_at
        if not isinstance(raw, dt.datetime):
            if isinstance(raw, Unread):
                raw.fill(self)
                raw = self._recorded_at
            raw = self._recorded_at = to_datetime(self, raw)
        return raw

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Free metadata recorded with the event (who, from where)."""
        raw = self._metadata
        if not isinstance(raw, dict):
            if isinstance(raw, Unread):
                raw.fill(self)
                raw = self._metadata
            raw = self._metadata = to_metadata(self, raw)
        return raw

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole: a copy must not need the store it was read from.
        return (
            RecordedEvent,
            (
                self.event_id,
                self.stream_id,
                self.version,
                self.position,
                self.recorded_at,
                self.type,
                self.schema_version,
                self.data,
                dict(self.metadata),
                self.causation_id,
                self.correlation_id,
                self.commit,
            ),
        )

    def problems(self, *, now: dt.datetime | None = None) -> list[CorruptEventError]:
        """Every field of this event holding a value histoire never writes (an edited row).

        Reading such a field raises the same CorruptEventError; `verify` lists them
        all. With `now`, a time recorded more than a day later is a problem too.
        """
        return problems(self, now=now)

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint a follower stores after handling this event."""
        return Checkpoint(self.commit, self.position)

    @property
    def category(self) -> str:
        """The stream's category (`account` for `account-42`)."""
        return self.stream_id.partition("-")[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return (
            self.event_id == other.event_id
            and self.stream_id == other.stream_id
            and self.version == other.version
            and self.position == other.position
            and self.recorded_at == other.recorded_at
            and self.type == other.type
            and self.schema_version == other.schema_version
            and bytes(self.data) == bytes(other.data)
            and dict(self.metadata) == dict(other.metadata)
            and self.causation_id == other.causation_id
            and self.correlation_id == other.correlation_id
        )

    def __hash__(self) -> int:
        return hash(self.event_id)

    def __repr__(self) -> str:
        return (
            f"RecordedEvent({self.stream_id}@{self.version}, position={self.position}, "
            f"type={self.type}, v{self.schema_version}, id={self.event_id})"
        )


build_recorded: Callable[..., RecordedEvent] = msgspec.StructMeta.__call__.__get__(RecordedEvent)
"""`RecordedEvent(*fields)` without the keyword names' mapping: the stores' hot path
(`starmap(build_recorded, rows)`, the fields positional, in RecordedEvent's order)."""
