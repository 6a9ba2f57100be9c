"""The in-memory store: for tests and experiments. Nothing survives the process."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence

from histoire.core.append_result import AppendResult
from histoire.core.errors import ReadOnlyStoreError
from histoire.core.recorded import (
    START,
    Checkpoint,
    LogPayloadRow,
    NewEvent,
    PayloadRow,
    RecordedEvent,
    build_recorded,
)
from histoire.core.streams import category_of, validate_stream_id
from histoire.core.versions import ANY, ExpectedVersion, check_expected_version
from histoire.store.checks import (
    DEFAULT_MAX_EVENT_SIZE,
    json_metadata,
    replayed_result,
    validate_append,
    validate_max_event_size,
)
from histoire.store.protocol import DEFAULT_BATCH_SIZE, Snapshot, StreamInfo
from histoire.store.read_checks import (
    validate_category,
    validate_checkpoint,
    validate_event_id,
    validate_log_read,
    validate_snapshot,
    validate_snapshot_query,
    validate_stream_read,
    wait_timeout,
)
from histoire.store.sqlite.errors import convert as convert_sqlite_error
from histoire.store.transactions import Transaction, committing


class _Data:
    """The events and snapshots of one memory store, shared by its handles."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.appended = threading.Condition(self.lock)
        self.log: list[RecordedEvent] = []
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.by_id: dict[uuid.UUID, RecordedEvent] = {}
        self.snapshots: dict[str, dict[tuple[str, int, int], Snapshot]] = {}
        # Called after each append (under the lock): asyncio waiters hand off to their loop.
        self.listeners: set[Callable[[], None]] = set()


class MemoryEventStore:
    """An EventStore held in lists and dicts, safe across threads.

    `read_only=True` refuses appends and snapshots with ReadOnlyStoreError;
    `max_event_size` bounds each event's data plus metadata, in bytes (1 MiB by
    default). `reopen()` gives another handle on the same events.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        read_only: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        _data: _Data | None = None,
    ) -> None:
        self.url = url
        self.read_only = bool(read_only)
        self.max_event_size = validate_max_event_size(max_event_size)
        data = _data if _data is not None else _Data()
        self._data = data
        self._lock = data.lock
        self._appended = data.appended
        self._log = data.log
        self._streams = data.streams
        self._by_id = data.by_id
        self._snapshots = data.snapshots
        self._closed = False
        # Read models of projections: SQLite in memory, so that their SQL runs in tests.
        self._read_models: sqlite3.Connection | None = None
        self._read_models_lock = threading.RLock()

    def reopen(
        self, *, read_only: bool = False, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ) -> MemoryEventStore:
        """Another handle on this store's events, with its own options (say, read-only)."""
        return MemoryEventStore(
            self.url, read_only=read_only, max_event_size=max_event_size, _data=self._data
        )

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        if self.read_only:
            raise ReadOnlyStoreError(self.url, f"appending to {stream_id}")
        validate_append(stream_id, events, expected_version, self.max_event_size)
        with self._lock:
            stored = [self._by_id.get(e.event_id) for e in events]
            if any(s is not None for s in stored):
                return replayed_result(stream_id, events, expected_version, stored)
            stream = self._streams.get(stream_id, [])
            check_expected_version(stream_id, expected_version, len(stream))
            now = dt.datetime.now(dt.UTC)
            base_version = len(stream)
            base_position = len(self._log)
            records = tuple(
                build_recorded(  # RecordedEvent's fields, in order
                    e.event_id,
                    stream_id,
                    base_version + i + 1,
                    base_position + i + 1,
                    now,
                    e.type,
                    e.schema_version,
                    bytes(e.data),
                    # through JSON, so that what reads back is what SQLite and
                    # PostgreSQL would give back (no tuples, no int keys)
                    json_metadata(e.metadata),
                    e.causation_id,
                    e.correlation_id,
                )
                for i, e in enumerate(events)
            )
            self._streams[stream_id] = [*stream, *records]
            self._log.extend(records)
            for record in records:
                self._by_id[record.event_id] = record
            self._appended.notify_all()
            for listener in self._data.listeners:
                listener()
        return AppendResult(
            stream_id=stream_id,
            first_version=records[0].version,
            last_version=records[-1].version,
            first_position=records[0].position,
            last_position=records[-1].position,
            events=records,
        )

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        validate_stream_read(stream_id, from_version, limit, batch_size)
        with self._lock:
            stream = self._streams.get(stream_id, [])
        if backward:
            start = len(stream) if from_version is None else min(from_version, len(stream))
            selected = stream[max(start, 0) - 1 :: -1] if start > 0 else []
        else:
            start = 1 if from_version is None else max(from_version, 1)
            selected = stream[start - 1 :]
        if limit is not None:
            selected = selected[:limit]
        yield from selected

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[PayloadRow]:
        for record in self.read_stream(
            stream_id, from_version=from_version, limit=limit, batch_size=batch_size
        ):
            yield record.version, record.type, record.schema_version, record.data

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        after, cat_list, kind_list = validate_log_read(after, categories, types, limit, batch_size)
        return self._log_pages(after[1], cat_list, kind_list, limit, batch_size)

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[LogPayloadRow]:
        for r in self.read_log(
            after, categories=categories, types=types, limit=limit, batch_size=batch_size
        ):
            yield r.commit, r.position, r.stream_id, r.version, r.type, r.schema_version, r.data

    def _log_pages(
        self,
        position: int,
        categories: list[str] | None,
        types: list[str] | None,
        limit: int | None,
        batch_size: int,
    ) -> Iterator[RecordedEvent]:
        cats = set(categories) if categories is not None else None
        kinds = set(types) if types is not None else None
        count = 0
        while limit is None or count < limit:
            with self._lock:
                batch = self._log[position : position + batch_size]
            if not batch:
                return
            for record in batch:
                position = record.position
                if cats is not None and record.category not in cats:
                    continue
                if kinds is not None and record.type not in kinds:
                    continue
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return

    def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        validate_event_id(event_id)
        with self._lock:
            return self._by_id.get(event_id)

    def list_streams(self, *, category: str | None = None) -> Iterator[StreamInfo]:
        validate_category(category)
        with self._lock:
            items = sorted(self._streams.items())
        for stream_id, events in items:
            cat = category_of(stream_id)
            if category is not None and cat != category:
                continue
            yield StreamInfo(
                stream_id=stream_id,
                category=cat,
                version=len(events),
                updated_at=events[-1].recorded_at,
            )

    def head(self) -> Checkpoint:
        with self._lock:
            return Checkpoint(0, len(self._log))

    def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        position = validate_checkpoint(after).position
        seconds = wait_timeout(timeout)
        with self._appended:
            return self._appended.wait_for(
                lambda: len(self._log) > position, timeout=None if math.isinf(seconds) else seconds
            )

    def on_append(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every append from now on (quick, it holds the lock);
        returns the function that stops it."""
        with self._lock:
            self._data.listeners.add(listener)

        def stop() -> None:
            with self._lock:
                self._data.listeners.discard(listener)

        return stop

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(self.url, f"saving a snapshot of {snapshot.stream_id}")
        validate_snapshot(snapshot)
        stamped = Snapshot(
            stream_id=snapshot.stream_id,
            name=snapshot.name,
            version=snapshot.version,
            schema_version=snapshot.schema_version,
            data=bytes(snapshot.data),
            recorded_at=dt.datetime.now(dt.UTC),
        )
        with self._lock:
            per_stream = self._snapshots.setdefault(snapshot.stream_id, {})
            per_stream[(snapshot.name, snapshot.schema_version, snapshot.version)] = stamped

    def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        validate_snapshot_query(stream_id, name, schema_version, max_version)
        with self._lock:
            candidates = [
                s
                for (n, sv, v), s in self._snapshots.get(stream_id, {}).items()
                if n == name and sv == schema_version and (max_version is None or v <= max_version)
            ]
        return max(candidates, key=lambda s: s.version, default=None)

    @contextlib.contextmanager
    def transaction(
        self, *, read_only: bool = False, durable: bool = True
    ) -> Iterator[Transaction]:
        """A transaction on an in-memory SQLite database that holds this store's read models."""
        with self._read_models_lock:
            if self._read_models is None:
                self._read_models = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
            conn = self._read_models
            conn.execute("BEGIN")
            with committing(conn, convert_sqlite_error, read_only=read_only) as tx:
                yield tx

    def close(self) -> None:
        self._closed = True
        with self._read_models_lock:
            if self._read_models is not None:
                self._read_models.close()
                self._read_models = None
