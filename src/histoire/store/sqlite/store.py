"""The SQLite store: the embedded default, one file, nothing to start.

Durable by default: WAL journal with `synchronous=FULL`, so that an
acknowledged append survives a power cut. `durability="fast"` (synchronous=
NORMAL) survives a killed process but may lose the last commits on a power
cut; it exists only under that name.

Appends from many threads are group-committed (one transaction, one fsync for
all of them, each with its own expected-version check). Several processes may
share one file: they take turns at the write lock (`turns`), and a
writer waits for it up to `lock_timeout` seconds, then gets
StoreUnavailableError, never a raw "database is locked".

Around the store: URL options and connections (read-only ones included) in
`connect`, the schema in `schema`, the write transaction in
`writer`, error conversion in `errors`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from histoire.core.append_result import AppendResult
from histoire.core.errors import (
    CorruptEventError,
    HistoireError,
    InvalidInputError,
    ReadOnlyStoreError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from histoire.core.recorded import (
    START,
    Checkpoint,
    LogPayloadRow,
    NewEvent,
    PayloadRow,
    RecordedEvent,
    build_recorded,
)
from histoire.core.stored_fields import check_count
from histoire.core.streams import validate_stream_id
from histoire.core.versions import ANY, ExpectedVersion
from histoire.store.checks import DEFAULT_MAX_EVENT_SIZE, validate_append, validate_max_event_size
from histoire.store.forks import reopen_after_fork
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
from histoire.store.rows import stream_info
from histoire.store.self_checks import StorageCheck
from histoire.store.sqlite.checks import category_mismatches, storage_check
from histoire.store.sqlite.connect import (
    Connections,
    Durability,
    connect_read_only,
    durability_from_url,
    skip_triggers,
    sqlite_path_from_url,
)
from histoire.store.sqlite.errors import DRIVER_ERRORS, is_busy
from histoire.store.sqlite.errors import convert as _convert
from histoire.store.sqlite.group_commit import GroupCommitter, Request
from histoire.store.sqlite.reads import (
    Densities,
    log_light_pages,
    log_pages,
    log_payload_pages,
    payload_pages,
    stream_pages,
)
from histoire.store.sqlite.schema import ensure_schema
from histoire.store.sqlite.turns import WriterTurns
from histoire.store.sqlite.wal_watch import WalLooks, WalWatch
from histoire.store.sqlite.writer import COLUMNS as _COLUMNS
from histoire.store.sqlite.writer import (
    Outcome,
    Planned,
    lone_outcome,
    lone_statement,
    write_batch,
    write_one_by_one,
)
from histoire.store.transactions import Transaction, committing

__all__ = ["SQLiteEventStore", "durability_from_url", "sqlite_path_from_url"]

POLL_INTERVAL = 0.002
"""How often a waiting follower looks for other processes' commits, in seconds, without
inotify (with it: see `wal_watch.WalLooks`)."""

_FLOORS_KEPT = 4096
"""Streams whose version the store notes at most (then it forgets them all): a command's
load notes its stream just before its append needs it."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def _to_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // _US


def _row_to_event(row: tuple[Any, ...]) -> RecordedEvent:
    # Columns are selected in RecordedEvent's parameter order; ids stay raw bytes
    # and recorded_at an int until first accessed.
    return build_recorded(*row)


class SQLiteEventStore:
    """An EventStore in one SQLite file.

    `create=True` makes the file and its schema if needed, but refuses a file
    holding another application's tables unless `into_existing_database=True`.
    `read_only=True` opens an existing store that this handle never writes to
    (a read-only file or folder is fine; see `connect`): appends and
    snapshots raise ReadOnlyStoreError. `max_event_size` bounds each event's
    data plus metadata, in bytes (1 MiB by default).
    """

    live_pace = 0.002
    """Live followers (`histoire.app.follower`) read again at the earliest 2 ms after a
    batch with events: under a flood of appends each read takes what came meanwhile, as
    one batch (one read-model transaction), instead of one per append, since a
    projection's transactions take the file's one write lock, which appends need too.
    At 100 appends a second (10 ms apart) nothing waits."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        durability: Durability = "full",
        lock_timeout: float = 30.0,
        into_existing_database: bool = False,
        read_only: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if durability not in ("full", "fast"):
            raise InvalidInputError(f"durability must be 'full' or 'fast', not {durability!r}")
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.durability = durability
        self.lock_timeout = lock_timeout
        self.read_only = bool(read_only)
        self.max_event_size = validate_max_event_size(max_event_size)
        self._closed = False
        self._good_types: set[str] = set()  # event types found valid (validate_append)
        self._densities = Densities()  # how to read the log of some categories (a hint)
        if not self.path.exists():
            if not create or self.read_only:
                raise StoreNotFoundError(self.url)
            if self.path.parent and not self.path.parent.exists():
                raise StoreNotFoundError(f"{self.url} (folder {self.path.parent} does not exist)")
        self._fresh_state()
        self._connections = Connections(self.path, durability, lock_timeout, self.read_only)
        try:
            self._writer = self._connections.open()
            ensure_schema(
                self._writer, self.url, create and not self.read_only, into_existing_database
            )
            self._set_up_writer()
        except BaseException:
            self.close()
            raise
        reopen_after_fork(self)

    def _fresh_state(self) -> None:
        """What the store keeps between calls besides its connections."""
        self._appended = threading.Condition()
        self._waiting = 0  # callers of wait_for_events: an append notifies only if any
        self._watches = threading.local()  # each waiting thread's WalWatch
        self._all_watches: weakref.WeakSet[WalWatch] = weakref.WeakSet()  # to close
        self._turns: WriterTurns | None = None
        self._committer: GroupCommitter[AppendResult] = GroupCommitter(self._run_batch)
        self._paused = False  # the committer, around a fork
        # Streams and a version each has, seen committed: an append at that version
        # needs no check that the stream has it (see writer's lone statement).
        self._floors: dict[str, int] = {}

    def _set_up_writer(self) -> None:
        writer = self._writer
        if not self.read_only:
            # Appends wait for the lock in _begin, taking turns with other
            # processes, not in SQLite's busy handler (see turns).
            writer.execute("PRAGMA busy_timeout=0")
            skip_triggers(writer)  # see there: other connections keep them
            self._turns = WriterTurns(self.path)

    def _before_fork(self) -> None:
        # A write transaction open at the fork would stay locked in the child (SQLite
        # keeps a process's locks in its memory, copied with the lock "taken" by a
        # connection the child never uses): wait for the append under way.
        self._paused = self._committer.pause()

    def _after_fork_in_parent(self) -> None:
        if self._paused:
            self._paused = False
            self._committer.resume()

    def _after_fork_in_child(self) -> list[Any]:
        """Connections of its own in a forked child (see `store.forks`); what it inherited.

        The inherited connections are never closed here: SQLite's close would
        run in this process on its parent's locks and files.
        """
        inherited = [self._connections, self._writer, self._turns, self._all_watches]
        if self._closed:
            return inherited
        self._fresh_state()
        self._connections = Connections(
            self.path, self.durability, self.lock_timeout, self.read_only
        )
        try:
            self._writer = self._connections.open()
            self._set_up_writer()
        except BaseException:
            self._closed = True  # reads and appends say so; nothing inherited is used
            raise
        return inherited

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            self._connections.close_mine()
            raise self._closed_error()
        return self._connections.reader()

    def _closed_error(self) -> StoreError:
        return StoreError(f"{self.url}: the store is closed")

    # -- appending ---------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        if self.read_only:
            raise ReadOnlyStoreError(self.url, f"appending to {stream_id}")
        validate_append(
            stream_id, events, expected_version, self.max_event_size, self._good_types, ids=False
        )
        if self._closed:
            raise self._closed_error()
        return self._committer.submit((stream_id, events, expected_version))

    def _run_batch(self, batch: list[Request[AppendResult]]) -> None:
        conn = self._writer
        now = time.time_ns() // 1000  # recorded_at: microseconds since the epoch, UTC
        if len(batch) == 1:
            statement = lone_statement(batch[0], now, self._floors)
            if statement is not None:
                outcome = self._write_alone(conn, *statement, now)
                if outcome is not None:
                    self._finish([outcome])
                    return
        try:
            self._begin(conn)
            try:
                try:
                    outcomes = write_batch(conn, batch, now)
                except Exception:
                    # An event id already stored, or one request the driver refused
                    # although it passed validation: take each append alone, so
                    # that only the faulty one fails.
                    conn.execute("ROLLBACK")
                    self._begin(conn)
                    outcomes = write_one_by_one(conn, batch, now)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                assert self._turns is not None
                self._turns.ended()
        except DRIVER_ERRORS as exc:
            for request in batch:
                request.fail(_convert(exc, f"appending to {request.args[0]}"))
            return
        self._finish(outcomes)

    def _write_alone(
        self, conn: sqlite3.Connection, sql: str, params: list[Any], planned: Planned, now: int
    ) -> Outcome | None:
        """Run a lone append's one statement (a transaction of its own, see `writer`).

        Its outcome; None if it wrote nothing (a conflict, an event id already
        stored, any error): the batch's path then tells why.
        """
        cursor = None

        def try_insert() -> bool:
            nonlocal cursor
            try:
                cursor = conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    return False
                raise
            return True

        turns = self._turns
        assert turns is not None
        try:
            taken = turns.begin(try_insert, time.monotonic() + self.lock_timeout)
        except Exception:
            turns.ended()
            return None
        if not taken:
            raise self._stayed_locked()
        turns.ended()
        assert cursor is not None
        return lone_outcome(cursor, planned, now)

    def _finish(self, outcomes: list[Outcome]) -> None:
        """Hand each request its outcome, and wake the followers waiting for appends."""
        for request, outcome in outcomes:
            if isinstance(outcome, sqlite3.Error):
                request.fail(_convert(outcome, f"appending to {request.args[0]}"))
            elif isinstance(outcome, Exception):
                request.fail(outcome)
            else:
                request.succeed(outcome)
        if self._waiting:
            with self._appended:
                self._appended.notify_all()

    def _begin(self, conn: sqlite3.Connection) -> None:
        def try_lock() -> bool:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise _convert(exc, "starting an append") from exc
                return False
            return True

        assert self._turns is not None
        if not self._turns.begin(try_lock, time.monotonic() + self.lock_timeout):
            raise self._stayed_locked()

    def _stayed_locked(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"starting an append: {self.path} stayed locked by another writer "
            f"for {self.lock_timeout} s (lock_timeout)"
        )

    # -- read models ---------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self, *, read_only: bool = False, durable: bool = True
    ) -> Iterator[Transaction]:
        """A transaction on the file, for read models and follower checkpoints.

        Unless `read_only`, it takes the file's one writer lock, as appends do:
        keep it short. `durable=False` commits without waiting for the disk
        (synchronous=NORMAL for this transaction): a power cut may lose the last
        such transactions, whole, never half of one.
        """
        conn = self._reader()
        fast = not durable and not read_only and self.durability == "full"
        if fast:
            conn.execute("PRAGMA synchronous=NORMAL")
        try:
            if read_only:
                conn.execute("BEGIN")
            else:
                # Fail fast on a taken lock, so that this transaction waits its turn
                # with the appends (turns) instead of in SQLite's busy handler,
                # whose sleeps grow to 100 ms: a live projection was starved by appends.
                conn.execute("PRAGMA busy_timeout=0")
                try:
                    self._begin(conn)
                finally:
                    conn.execute(f"PRAGMA busy_timeout={int(self.lock_timeout * 1000)}")
            with committing(conn, _convert, read_only=read_only) as tx:
                yield tx
        finally:
            if fast:
                conn.execute("PRAGMA synchronous=FULL")

    # -- reading -----------------------------------------------------------

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
        start = (1 << 62) if backward else 1
        cursor = start if from_version is None else from_version
        return stream_pages(self._fetch, stream_id, cursor, backward, limit, batch_size)

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[PayloadRow]:
        validate_stream_read(stream_id, from_version, limit, batch_size)
        cursor = 1 if from_version is None else from_version
        return payload_pages(self._fetch_noting, stream_id, cursor, limit, batch_size)

    def _fetch_noting(self, query: str, params: Sequence[Any], doing: str) -> list[Any]:
        """`_fetch` of a stream's rows (stream id first in `params`, version first in
        each row) that notes the stream's last version read, if it is committed.

        A read inside `transaction()` may see events that this transaction
        inserted, which a rollback would take back: those are not noted.
        """
        try:
            conn = self._reader()
            rows = conn.execute(query, params).fetchall()
        except DRIVER_ERRORS as exc:
            raise _convert(exc, doing) from exc
        if rows and not conn.in_transaction:
            version = rows[-1][0]
            if type(version) is int:  # not a row edited behind histoire's back
                floors = self._floors
                if len(floors) >= _FLOORS_KEPT:
                    floors.clear()
                floors[params[0]] = version
        return rows

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        return log_pages(self._fetch, after[1], cats, kinds, limit, batch_size, self._densities)

    def read_log_light(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        """`read_log`, without the envelope's columns: each batch's event ids, times,
        metadata, causation and correlation ids are read on first use of one of them,
        in one more query per batch (a record kept after the store is closed reads
        them through a connection of its own). For a catch-up whose handlers seldom
        look at them (0.4 us an event less when none does)."""
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        return log_light_pages(
            self._fetch_later, after[1], cats, kinds, limit, batch_size, self._densities
        )

    def _fetch_later(self, query: str, params: Sequence[Any], doing: str) -> list[Any]:
        """`_fetch`, or once the store is closed, a read on a connection opened for it
        (the rows of the events table never change: any connection reads the same)."""
        if not self._closed:
            return self._fetch(query, params, doing)
        try:
            conn, _ = connect_read_only(self.path, self.lock_timeout)
        except (HistoireError, OSError) as exc:
            raise StoreError(f"{doing}: {self.url} is closed and cannot be read: {exc}") from exc
        try:
            return conn.execute(query, params).fetchall()
        except DRIVER_ERRORS as exc:
            raise _convert(exc, doing) from exc
        finally:
            conn.close()

    def _fetch(self, query: str, params: Sequence[Any], doing: str) -> list[Any]:
        try:
            return self._reader().execute(query, params).fetchall()
        except DRIVER_ERRORS as exc:
            raise _convert(exc, doing) from exc

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[LogPayloadRow]:
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        return log_payload_pages(
            self._fetch, after[1], cats, kinds, limit, batch_size, self._densities
        )

    def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        rows = self._fetch(
            "SELECT coalesce(max(version), 0) FROM histoire_events WHERE stream_id = ?",
            (stream_id,),
            f"reading the version of {stream_id}",
        )
        version = rows[0][0] if rows else 0
        if type(version) is not int:  # a row edited behind histoire's back: name it
            for row in self._fetch(
                f"SELECT {_COLUMNS} FROM histoire_events "
                "WHERE stream_id = ? AND typeof(version) != 'integer' LIMIT 1",
                (stream_id,),
                f"reading the version of {stream_id}",
            ):
                check_count(_row_to_event(row), "version")
        return int(version)

    def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        validate_event_id(event_id)
        rows = self._fetch(
            f"SELECT {_COLUMNS} FROM histoire_events WHERE event_id = ?",
            (event_id.bytes,),
            f"reading event {event_id}",
        )
        return _row_to_event(rows[0]) if rows else None

    def list_streams(self, *, category: str | None = None) -> Iterator[StreamInfo]:
        validate_category(category)
        where = "WHERE e.category = ?" if category is not None else ""
        query = (
            f"SELECT e.category, {_COLUMNS} FROM histoire_events e "
            "JOIN (SELECT stream_id AS sid, max(version) AS top FROM histoire_events "
            "GROUP BY stream_id) m ON e.stream_id = m.sid AND e.version = m.top "
            f"{where} ORDER BY e.stream_id"
        )
        params: tuple[Any, ...] = (category,) if category is not None else ()
        for row in self._fetch(query, params, "listing streams"):
            yield stream_info(row[0], _row_to_event(row[1:]))

    def head(self) -> Checkpoint:
        rows = self._fetch(
            "SELECT coalesce(max(position), 0) FROM histoire_events", (), "reading the log head"
        )
        return Checkpoint(0, int(rows[0][0]))

    def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        """Wake on appends of this process and of others within a fraction of a millisecond.

        Other processes' commits are seen through `PRAGMA data_version`, which
        changes when another connection commits: a cheap look at the WAL index
        in shared memory, no query of the table. On Linux the waiter sleeps on
        inotify until the WAL is written (`wal_watch`), then looks until the
        commit shows; elsewhere it looks every `POLL_INTERVAL` seconds.
        """
        position = validate_checkpoint(after).position
        deadline = time.monotonic() + wait_timeout(timeout)
        watch = self._wal_watch()
        looks = None if watch is None else WalLooks(watch)
        # Counted (and watching) before the head is read: an append that commits
        # after this read sees the count and notifies, or writes the WAL.
        with self._appended:
            self._waiting += 1
        try:
            seen = self.data_version()
            if self.head()[1] > position:
                return True
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if looks is None:
                    with self._appended:
                        if self._appended.wait(min(left, POLL_INTERVAL)):
                            return True
                else:
                    looks.wait(left)
                past, seen = self.look(position, seen)
                if past:
                    return True
        finally:
            with self._appended:
                self._waiting -= 1

    def _wal_watch(self) -> WalWatch | None:
        """This thread's watch on the WAL (None: not available, poll)."""
        try:
            watch: WalWatch | None = self._watches.watch
        except AttributeError:
            watch = self._watches.watch = WalWatch.open(self.path)
            if watch is not None:
                with self._appended:
                    self._all_watches.add(watch)
        return watch

    # -- snapshots ---------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(self.url, f"saving a snapshot of {snapshot.stream_id}")
        validate_snapshot(snapshot)
        try:
            self._reader().execute(
                "INSERT OR REPLACE INTO histoire_snapshots "
                "(stream_id, name, schema_version, version, data, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    snapshot.stream_id,
                    snapshot.name,
                    snapshot.schema_version,
                    snapshot.version,
                    bytes(snapshot.data),
                    _to_us(dt.datetime.now(dt.UTC)),
                ),
            )
        except DRIVER_ERRORS as exc:
            raise _convert(exc, f"saving a snapshot of {snapshot.stream_id}") from exc

    def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        validate_snapshot_query(stream_id, name, schema_version, max_version)
        top = (1 << 62) if max_version is None else max_version
        rows = self._fetch(
            "SELECT version, data, recorded_at FROM histoire_snapshots "
            "WHERE stream_id = ? AND name = ? AND schema_version = ? AND version <= ? "
            "ORDER BY version DESC LIMIT 1",
            (stream_id, name, schema_version, top),
            f"loading a snapshot of {stream_id}",
        )
        if not rows:
            return None
        version, data, recorded = rows[0]
        return Snapshot(
            stream_id=stream_id,
            name=name,
            version=version,
            schema_version=schema_version,
            data=data,
            recorded_at=_EPOCH + dt.timedelta(microseconds=recorded),
        )

    # -- integrity ---------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """Defects of the database itself: missing triggers, holes in stream versions."""
        problems: list[str] = []
        triggers = {
            name
            for (name,) in self._fetch(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'", (), "listing triggers"
            )
        }
        for needed in (
            "histoire_events_no_update",
            "histoire_events_no_delete",
            "histoire_events_no_replace_id",
            "histoire_events_no_replace_place",
        ):
            if needed not in triggers:
                problems.append(f"immutability trigger {needed} is missing")
        for stream_id, count, top, low in self._fetch(
            "SELECT stream_id, count(*), max(version), min(version) FROM histoire_events "
            "GROUP BY stream_id HAVING count(*) != max(version) OR min(version) != 1",
            (),
            "checking versions",
        ):
            problems.append(
                f"stream {stream_id}: versions not contiguous from 1 "
                f"({count} events, versions {low}..{top})"
            )
        return problems

    def storage_check(self, *, full: bool = False) -> StorageCheck:
        """SQLite's own check of the file: `PRAGMA quick_check`, `integrity_check` if full."""
        return storage_check(self._reader(), full=full)

    def category_mismatches(self) -> list[CorruptEventError]:
        """Events whose category column is not the category of their stream id."""
        return category_mismatches(self._fetch)

    # -- for the asyncio edge (async_store) -----------------------------------

    @property
    def committer(self) -> GroupCommitter[AppendResult]:
        """The group commit every append of this store goes through; async appends join it."""
        return self._committer

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def look(self, position: int, seen: int) -> tuple[bool, int]:
        """One look of a waiter: whether the log's head is past `position`, and data_version
        now (the head is read only if data_version moved from `seen`)."""
        version = self.data_version()
        return version != seen and self.head()[1] > position, version

    def data_version(self) -> int:
        """`PRAGMA data_version` on this thread's connection: it changes when others commit."""
        try:
            return int(self._reader().execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _convert(exc, "waiting for events") from exc

    def close(self) -> None:
        """Close the store, from any thread, while others use it or not.

        Appends under way finish (committed or not, never half of one); later
        ones, and reads started after, raise StoreError. A read under way on
        another thread ends normally: that thread's connection is closed at its
        next call (or when it ends), never under its feet.
        """
        self._closed = True
        committer: GroupCommitter[AppendResult] | None = getattr(self, "_committer", None)
        if committer is not None:
            committer.close(self._closed_error)
        if self._turns is not None:
            self._turns.close()
        self._connections.close(self._writer if hasattr(self, "_writer") else None)
        with self._appended:
            watches = list(self._all_watches)
            self._all_watches.clear()
        for watch in watches:
            watch.close()

    def __enter__(self) -> SQLiteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
