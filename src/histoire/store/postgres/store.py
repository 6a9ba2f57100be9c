"""The PostgreSQL store: production storage, many writer processes, followers that never skip.

One round trip per append: the server-side function `append_events` locks
only the stream, checks the expected version, inserts the events and
announces them with NOTIFY. The global log is read in (transaction id,
position) order below the oldest running transaction, so a follower resuming
from its Checkpoint never skips an event that committed late; an append takes
its transaction id only once it holds the stream's lock, so each stream's
events come in version order in that log (see docs/postgres.md). Durable by
default (synchronous_commit on); `durability="fast"` turns synchronous_commit
off for this store's sessions.

The SQL text and row decoding live in `sql` (array parameters in
`arrays`), connection settings in `connect`, error
conversion in `errors`, schema and URL handling in `schema`:
none of them does I/O. The blocking edge is this module, its pool
(`pool`) and LISTEN waits (`listen`); an asyncio store would
be a second edge over the same modules.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

import psycopg

from histoire.core.append_result import AppendResult
from histoire.core.errors import (
    CorruptEventError,
    ReadOnlyStoreError,
    StoreError,
)
from histoire.core.recorded import (
    START,
    Checkpoint,
    LogPayloadRow,
    NewEvent,
    PayloadRow,
    RecordedEvent,
)
from histoire.core.streams import validate_stream_id
from histoire.core.versions import ANY, ExpectedVersion
from histoire.store.checks import (
    DEFAULT_MAX_EVENT_SIZE,
    validate_append,
    validate_max_event_size,
)
from histoire.store.forks import reopen_after_fork
from histoire.store.paging import keyset_pages
from histoire.store.postgres import checks as postgres_checks
from histoire.store.postgres import operations
from histoire.store.postgres.connect import connection_kwargs
from histoire.store.postgres.errors import (
    convert,
)
from histoire.store.postgres.listen import AppendListener
from histoire.store.postgres.pool import StorePool, connect
from histoire.store.postgres.reads import (
    LOG_KEY,
    light_batch,
    log_batch,
    payload_pages,
    read_statements,
    stream_pages,
)
from histoire.store.postgres.schema import (
    PostgresLocation,
    apply_migrations,
    check_schema,
    parse_url,
)
from histoire.store.postgres.sql import (
    IN_INDEX_ORDER,
    LAST_VERSION,
    category_mode,
    read_log_params,
    statements,
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
from histoire.store.self_checks import StorageCheck
from histoire.store.transactions import PostgresTransaction, Transaction

__all__ = ["PostgresEventStore", "migrate"]

Conn = psycopg.Connection[Any]

_LIST_PAGE = 1000


def migrate(url: str, *, schema: str | None = None) -> int:
    """Create or upgrade the histoire schema at `url` (`?schema=` or `schema`); its version.

    Safe to run from several processes at once: migrations take an advisory lock.
    """
    location = parse_url(url, schema)
    try:
        with psycopg.connect(location.conninfo, autocommit=True, connect_timeout=5) as conn:
            return apply_migrations(conn, location)
    except psycopg.Error as exc:
        raise convert(exc, f"migrating schema {location.schema!r}", location) from exc


class PostgresEventStore:
    """An EventStore in one schema of a PostgreSQL database (15 or newer).

    `schema` (or `?schema=` in the URL; default `histoire`) lets applications
    share a database. `create=False` opens an existing store only. The pool
    holds `pool_min` to `pool_max` connections; a command waits `pool_timeout`
    seconds for one, then raises StoreUnavailableError. `durability="fast"`
    turns synchronous_commit off for this store's sessions. `visibility_wait`
    bounds how long head() and read_log() wait for events committed before the
    call but hidden behind an older running transaction. `prepare_threshold=None`
    turns server-side prepared statements off (PgBouncer in transaction mode).
    `read_only=True` opens an existing store whose sessions are read-only
    (appends and snapshots raise ReadOnlyStoreError). `max_event_size` bounds
    each event's data plus metadata, in bytes (1 MiB by default).
    """

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        schema: str | None = None,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        durability: str | None = None,
        prepare_threshold: int | None = 5,
        visibility_wait: float = 0.2,
        read_only: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self.location: PostgresLocation = parse_url(url, schema, durability)
        self.url = url
        self.read_only = bool(read_only)
        self.max_event_size = validate_max_event_size(max_event_size)
        self.schema = self.location.schema
        self.durability = self.location.durability
        self.visibility_wait = visibility_wait
        self._sql = statements(self.schema)
        self._reads = read_statements(self.schema)
        kwargs = connection_kwargs(
            self.location, connect_timeout, prepare_threshold, self.read_only
        )
        with connect(self.location, kwargs, "opening the store") as conn:
            try:
                check_schema(conn, self.location, create and not self.read_only)
            except psycopg.Error as exc:
                raise convert(exc, "preparing the schema", self.location) from exc
        self._db = StorePool(
            self.location, kwargs, min_size=pool_min, max_size=pool_max, timeout=pool_timeout
        )
        self._use(self._db)
        reopen_after_fork(self)

    def _use(self, db: StorePool) -> None:
        self._db = db
        self._fetch = db.fetch
        self._fetch_events = db.fetch_events
        self._listener = AppendListener(
            lambda: db.connect("listening for appends"), self.location.channel, db.convert
        )

    def _before_fork(self) -> None:
        pass  # nothing a child inherits stays locked: it opens a pool of its own

    def _after_fork_in_parent(self) -> None:
        pass

    def _after_fork_in_child(self) -> list[Any]:
        """A pool of its own in a forked child (see `store.forks`); what it inherited."""
        inherited = [self._db, self._listener]
        if not self._db.closed:
            self._use(self._db.fresh())
        return inherited

    # -- appending -----------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        if self.read_only:
            raise ReadOnlyStoreError(self.location.display, f"appending to {stream_id}")
        validate_append(stream_id, events, expected_version, self.max_event_size)
        sql = self._sql
        return self._db.perform_on_one(
            f"appending to {stream_id}",
            lambda: operations.append(sql, stream_id, events, expected_version),
        )

    # -- reading -------------------------------------------------------------------

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
        start = LAST_VERSION if backward else 1
        cursor = start if from_version is None else from_version
        return stream_pages(
            self._fetch, self._reads, stream_id, cursor, backward, limit, batch_size
        )

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
        return payload_pages(self._fetch, self._reads, stream_id, cursor, limit, batch_size)

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
        return self._log_pages(after, cats, kinds, limit, batch_size)

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
        in one more query per batch, on a pooled connection (on one of its own when
        none is free soon, the caller's transaction holding the last, and once the
        store is closed: `StorePool.fetch_aside`). For a catch-up whose handlers seldom
        look at them (their loaders cost the client 0.3-0.5 us an event). With a pool
        of one connection, which a handler's transaction holds, events are read whole.
        """
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        if self._db.max_size < 2:
            return self._log_pages(after, cats, kinds, limit, batch_size)
        rows = self._log_rows(after, cats, kinds, limit, batch_size, payloads=True)
        return chain.from_iterable(map(partial(light_batch, self._envelopes), rows))

    def _envelopes(self, positions: list[int]) -> list[Any]:
        """(position, event_id, recorded_at, metadata, causation_id, correlation_id) rows
        of the events at `positions` (the events never change: any connection reads
        the same)."""
        return self._db.fetch_aside(
            self._reads.envelopes, (positions,), "reading the envelope of events"
        )

    def read_log_woken(
        self,
        after: Checkpoint,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int,
    ) -> list[RecordedEvent]:
        """One batch of the log after `after` (at most `limit` events), in one statement:
        the read of a live follower just woken at the head of the log (`Follower`).

        Below the horizon as every read, so nothing is ever skipped; but unlike
        `read_log`'s first batch it neither waits for events hidden behind an older
        open transaction (the follower's wait does, when the batch comes back empty)
        nor forces index order (`IN_INDEX_ORDER`, a second statement in a pipeline):
        from the head, few events follow the checkpoint, which the planner sees in
        the index (a full batch is followed by `read_log`'s reads, which force it).
        """
        planned = self._reads.woken(after, categories, types, limit)
        if planned is None:
            return []
        return log_batch(self._db.fetch(*planned, "reading the log"))

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
        return self._log_payload_pages(after, cats, kinds, limit, batch_size)

    def _log_pages(
        self,
        after: Checkpoint,
        cats: list[str] | None,
        kinds: list[str] | None,
        limit: int | None,
        size: int,
    ) -> Iterator[RecordedEvent]:
        return chain.from_iterable(
            map(log_batch, self._log_rows(after, cats, kinds, limit, size, payloads=False))
        )

    def _log_payload_pages(
        self,
        after: Checkpoint,
        cats: list[str] | None,
        kinds: list[str] | None,
        limit: int | None,
        size: int,
    ) -> Iterator[LogPayloadRow]:
        return chain.from_iterable(self._log_rows(after, cats, kinds, limit, size, payloads=True))

    def _log_rows(
        self,
        after: Checkpoint,
        cats: list[str] | None,
        kinds: list[str] | None,
        limit: int | None,
        size: int,
        *,
        payloads: bool,
    ) -> Iterator[list[Any]]:
        if cats == [] or kinds == []:
            return
        query = self._reads.log(category_mode(cats), kinds is not None, payloads=payloads)
        first = [True]

        def fetch(at: tuple[int, int], batch: int) -> list[Any]:
            params = read_log_params(*at, cats, kinds, batch)
            if first[0]:
                first[0] = False
                return self._settled_batch(query, params)
            return self._db.fetch_ordered(query, params, "reading the log")

        xid, position = (0, 1) if payloads else LOG_KEY
        yield from keyset_pages(
            fetch,
            lambda last: (last[xid], last[position]),
            (int(after[0]), int(after[1])),
            limit,
            size,
        )

    def _settled_batch(self, query: str, params: Sequence[Any]) -> list[Any]:
        """The first batch of a log read, once what committed before the call shows.

        The head and the batch are read in one round trip (a pipeline); only when
        committed events are still hidden is the batch read again after the wait.
        """

        def work(conn: Conn) -> tuple[tuple[Any, ...], list[Any]]:
            with conn.pipeline():
                conn.execute(IN_INDEX_ORDER)
                head = conn.execute(self._sql.head, (), binary=True)
                rows = conn.execute(query, params, binary=True)
            return head.fetchall()[0], rows.fetchall()  # the head query gives one row

        head, rows = self._db.run("reading the log", work)
        if operations.first_batch_is_final(head, self.visibility_wait):
            return rows
        self._settled()  # include what committed before this call, if it shows soon
        return self._db.fetch_ordered(query, params, "reading the log")

    def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        return self._db.perform(
            f"reading the version of {stream_id}", operations.stream_version(self._sql, stream_id)
        )

    def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        validate_event_id(event_id)
        return self._db.perform(f"reading event {event_id}", operations.event(self._sql, event_id))

    def list_streams(self, *, category: str | None = None) -> Iterator[StreamInfo]:
        validate_category(category)
        return self._db.emitted("listing streams", operations.streams(self._sql, category))

    def head(self) -> Checkpoint:
        """The checkpoint of the last visible event, once those committed before the call show.

        Waits up to `visibility_wait` seconds for transactions older than the
        newest committed one to end (usually a millisecond), so that a reader
        sees its own appends even while other sessions write.
        """
        return self._settled()

    def _head(self) -> tuple[Checkpoint, bool]:
        return self._db.perform("reading the log head", operations.head(self._sql))

    def _settled(self) -> Checkpoint:
        steps = operations.settled(self._sql, self.visibility_wait)
        return self._db.perform("reading the log head", steps)

    # -- read models -----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self, *, read_only: bool = False, durable: bool = True
    ) -> Iterator[Transaction]:
        """A transaction on the store's database, for read models and follower checkpoints.

        Tables named through `tx.table(name)` live in the store's schema.
        """
        with self._db.transaction("using a read model", read_only=read_only, durable=durable) as (
            conn,
            begin,
        ):
            yield PostgresTransaction(
                conn,
                self.schema,
                lambda exc, doing: convert(exc, doing, self.location),
                psycopg.Error,
                read_only=read_only,
                begin=begin,
                client_cursor=psycopg.ClientCursor,
            )

    # -- following -----------------------------------------------------------------

    def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        """Block on LISTEN until an event past `after` is visible, or `timeout` passes.

        A notified transaction may still be above the horizon (an older one is
        running); then this looks again with a short backoff until it shows.
        """
        if self._db.closed:
            raise StoreError(f"waiting for events: the store of {self.location.display} is closed")
        return self._listener.wait(validate_checkpoint(after), wait_timeout(timeout), self._head)

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(
                self.location.display, f"saving a snapshot of {snapshot.stream_id}"
            )
        validate_snapshot(snapshot)
        self._db.perform(
            f"saving a snapshot of {snapshot.stream_id}",
            operations.save_snapshot(self._sql, snapshot),
        )

    def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        validate_snapshot_query(stream_id, name, schema_version, max_version)
        return self._db.perform(
            f"loading a snapshot of {stream_id}",
            operations.load_snapshot(self._sql, stream_id, name, schema_version, max_version),
        )

    # -- integrity -------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """Defects of the database: triggers, holes, log order, stream table drift, foreign xids."""
        problems: list[str] = []
        found = self._fetch(self._sql.triggers, (self.schema,), "listing triggers")
        triggers = {r[0] for r in found}
        for needed in ("events_no_update", "events_no_delete", "events_no_truncate"):
            if needed not in triggers:
                problems.append(f"immutability trigger {needed} is missing or disabled")
        found = self._fetch(self._sql.functions, (self.schema,), "listing functions")
        problems.extend(postgres_checks.append_function_problems(found))
        for stream_id, count, low, top in self._fetch(self._sql.holes, (), "checking versions"):
            problems.append(
                f"stream {stream_id}: versions not contiguous from 1 "
                f"({count} events, versions {low}..{top})"
            )
        for stream_id, count, before, after in self._fetch(
            self._sql.out_of_order, (), "checking the log order"
        ):
            problems.append(
                f"stream {stream_id}: events out of version order in the log, version {after} "
                f"after version {before}" + (f" (and {count - 1} more)" if count > 1 else "")
            )
        for stream_id, recorded, actual in self._fetch(
            self._sql.stream_drift, (), "checking stream versions"
        ):
            problems.append(
                f"stream {stream_id}: stream table says version {recorded}, events say {actual}"
            )
        newest, next_xid = self._fetch(self._sql.future_xids, (), "checking transaction ids")[0]
        if newest is not None and newest >= next_xid:
            problems.append(
                f"events carry transaction id {newest}, above the server's next one ({next_xid}): "
                "restored from another cluster? They stay hidden from read_log (docs/postgres.md)"
            )
        return problems

    def storage_check(self, *, full: bool = False) -> StorageCheck:
        """amcheck on every index, when the extension is installed (else says so)."""
        return postgres_checks.storage_check(self._db, self.schema, full=full)

    def category_mismatches(self) -> list[CorruptEventError]:
        """Events whose category column is not the category of their stream id."""
        return postgres_checks.category_mismatches(self._db, self.schema)

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        if self._db.closed:
            return
        self._listener.close()
        self._db.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresEventStore({self.location.display!r}, schema={self.schema!r})"
