"""The PostgreSQL store for asyncio: psycopg's async connections over the same SQL.

The statements, their parameters and the row decoding are `sql`'s and `reads`', the
error conversion `errors`', the schema handling `schema`'s: exactly what the
blocking store runs. This module awaits them on an AsyncConnectionPool
(`async_pool`) and waits for appends on a shared LISTEN connection
(`async_listen`).

Cancellation: an append is one statement in autocommit, a server-side
function that commits or not; a cancelled call gives its connection back and
leaves the append whole or absent (psycopg cancels the statement on the
server; if it had committed, the events are there in full).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import psycopg

from histoire.core.append_result import AppendResult
from histoire.core.errors import ReadOnlyStoreError, StoreError
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
from histoire.store.paging import async_keyset_pages
from histoire.store.postgres import operations
from histoire.store.postgres.async_listen import AsyncAppendListener
from histoire.store.postgres.async_pool import AsyncStorePool, Pinned
from histoire.store.postgres.connect import connection_kwargs
from histoire.store.postgres.errors import convert
from histoire.store.postgres.reads import LOG_KEY, log_batch, read_statements, stream_batch
from histoire.store.postgres.schema import PostgresLocation, check_schema, parse_url
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

__all__ = ["AsyncPostgresEventStore"]

_LIST_PAGE = 1000
T = TypeVar("T")


class AsyncPostgresEventStore:
    """An AsyncEventStore in one schema of a PostgreSQL database; open it with `open`.

    The options are PostgresEventStore's (`schema`, `create`, `pool_min`,
    `pool_max`, `pool_timeout`, `connect_timeout`, `durability`,
    `prepare_threshold`, `visibility_wait`, `read_only`, `max_event_size`).
    """

    def __init__(self, location: PostgresLocation, url: str, **options: Any) -> None:
        # Use `await AsyncPostgresEventStore.open(...)`: the pool opens on the loop.
        self.location = location
        self.url = url
        self.schema = location.schema
        self.durability = location.durability
        self.read_only = bool(options["read_only"])
        self.max_event_size = validate_max_event_size(options["max_event_size"])
        self.visibility_wait: float = options["visibility_wait"]
        self._sql = statements(self.schema)
        self._reads = read_statements(self.schema)
        self._kwargs = options["kwargs"]
        self._db = AsyncStorePool(
            location,
            self._kwargs,
            min_size=options["pool_min"],
            max_size=options["pool_max"],
            timeout=options["pool_timeout"],
        )
        self._fetch = self._db.fetch
        self._listener = AsyncAppendListener(
            lambda: self._db.connect("listening for appends"),
            location.channel,
            self._db.convert,
        )

    @classmethod
    async def open(
        cls,
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
    ) -> AsyncPostgresEventStore:
        """Open the store at `url`, creating or migrating its schema if `create` allows."""
        location = parse_url(url, schema, durability)
        validate_max_event_size(max_event_size)
        kwargs = connection_kwargs(location, connect_timeout, prepare_threshold, bool(read_only))
        # The schema check is the blocking store's, run once, off the loop.
        await asyncio.to_thread(_prepare_schema, location, kwargs, create and not read_only)
        store = cls(
            location,
            url,
            read_only=read_only,
            max_event_size=max_event_size,
            visibility_wait=visibility_wait,
            kwargs=kwargs,
            pool_min=pool_min,
            pool_max=pool_max,
            pool_timeout=pool_timeout,
        )
        await store._db.open("opening the store")
        return store

    # -- appending -----------------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        if self.read_only:
            raise ReadOnlyStoreError(self.location.display, f"appending to {stream_id}")
        validate_append(stream_id, events, expected_version, self.max_event_size)
        sql = self._sql
        return await self._db.perform_on_one(
            f"appending to {stream_id}",
            lambda: operations.append(sql, stream_id, events, expected_version),
        )

    def pinned(self) -> Pinned:
        """`async with store.pinned():` this task's calls in the block share one pooled
        connection, borrowed at the first and given back at the end (or at
        `release()`): the command handler's read and append borrow once."""
        return self._db.pinned()

    # -- reading -------------------------------------------------------------------

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        validate_stream_read(stream_id, from_version, limit, batch_size)
        if backward:
            query = self._reads.stream_backward
            cursor = LAST_VERSION if from_version is None else from_version
        else:
            query = self._reads.stream_forward
            cursor = 1 if from_version is None else from_version
        return self._pages(query, stream_id, cursor, backward, limit, batch_size)

    def _pages(
        self, query: str, stream_id: str, cursor: int, backward: bool, limit: int | None, size: int
    ) -> AsyncIterator[RecordedEvent]:
        doing = f"reading stream {stream_id}"
        step = -1 if backward else 1
        pages = async_keyset_pages(
            lambda version, batch: self._fetch(query, (stream_id, version, batch), doing),
            lambda last: last[0] + step,
            cursor,
            limit,
            size,
        )
        return _each(pages, lambda rows: stream_batch(stream_id, rows))

    async def read_stream_page(
        self, stream_id: str, *, from_version: int, limit: int, batch_size: int
    ) -> list[RecordedEvent]:
        """Up to `limit` events of a stream from `from_version`, in one list."""
        validate_stream_read(stream_id, from_version, limit, batch_size)
        query, doing = self._reads.stream_forward, f"reading stream {stream_id}"
        return stream_batch(
            stream_id, await self._fetch(query, (stream_id, from_version, limit), doing)
        )

    async def read_payloads_page(
        self, stream_id: str, *, from_version: int, limit: int, batch_size: int
    ) -> list[PayloadRow]:
        """Up to `limit` payload rows of a stream from `from_version`, in one list (the
        command handler's folds: no envelope columns, no RecordedEvent)."""
        validate_stream_read(stream_id, from_version, limit, batch_size)
        query, doing = self._reads.payloads, f"reading stream {stream_id}"
        return await self._fetch(query, (stream_id, from_version, limit), doing)

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[PayloadRow]:
        validate_stream_read(stream_id, from_version, limit, batch_size)
        cursor = 1 if from_version is None else from_version
        return self._payload_pages(stream_id, cursor, limit, batch_size)

    def _payload_pages(
        self, stream_id: str, cursor: int, limit: int | None, size: int
    ) -> AsyncIterator[PayloadRow]:
        query, doing = self._reads.payloads, f"reading stream {stream_id}"
        pages = async_keyset_pages(
            lambda version, batch: self._fetch(query, (stream_id, version, batch), doing),
            lambda last: last[0] + 1,
            cursor,
            limit,
            size,
        )
        return _each(pages, list)

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[LogPayloadRow]:
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        return _each(self._log_batches(after, cats, kinds, limit, batch_size, payloads=True), list)

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        after, cats, kinds = validate_log_read(after, categories, types, limit, batch_size)
        batches = self._log_batches(after, cats, kinds, limit, batch_size, payloads=False)
        return _each(batches, log_batch)

    async def read_log_woken(
        self,
        after: Checkpoint,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int,
    ) -> list[RecordedEvent]:
        """One batch of the log after `after`, in one statement: the read of a live
        follower woken at the head of the log (the blocking store's `read_log_woken`)."""
        planned = self._reads.woken(after, categories, types, limit)
        if planned is None:
            return []
        return log_batch(await self._db.fetch(*planned, "reading the log"))

    async def _log_batches(
        self,
        after: Checkpoint,
        cats: list[str] | None,
        kinds: list[str] | None,
        limit: int | None,
        size: int,
        *,
        payloads: bool,
    ) -> AsyncIterator[list[Any]]:
        """The rows of the log after `after`, filtered, a batch at a time (the blocking
        store's statements: whole rows, or a fold's with `payloads`)."""
        if cats == [] or kinds == []:
            return
        query = self._reads.log(category_mode(cats), kinds is not None, payloads=payloads)
        xid, position = (0, 1) if payloads else LOG_KEY
        first = [True]

        def fetch(at: tuple[int, int], batch: int) -> Awaitable[list[Any]]:
            params = read_log_params(*at, cats, kinds, batch)
            if first[0]:
                first[0] = False
                return self._settled_batch(query, params)
            return self._db.fetch_ordered(query, params, "reading the log")

        async for rows in async_keyset_pages(
            fetch,
            lambda last: (last[xid], last[position]),
            (int(after[0]), int(after[1])),
            limit,
            size,
        ):
            yield rows

    async def _settled_batch(self, query: str, params: Sequence[Any]) -> list[Any]:
        """The first batch of a log read, once what committed before the call shows:
        the head and the batch in one round trip (a pipeline), as the blocking store."""

        async def work(conn: Any) -> tuple[tuple[Any, ...], list[Any]]:
            async with conn.pipeline():
                await conn.execute(IN_INDEX_ORDER)
                head = await conn.execute(self._sql.head, (), binary=True)
                rows = await conn.execute(query, params, binary=True)
            return (await head.fetchall())[0], await rows.fetchall()

        head, rows = await self._db.run("reading the log", work)
        if operations.first_batch_is_final(head, self.visibility_wait):
            return rows
        await self._settled()  # include what committed before this call, if it shows soon
        return await self._db.fetch_ordered(query, params, "reading the log")

    async def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        return await self._db.perform(
            f"reading the version of {stream_id}", operations.stream_version(self._sql, stream_id)
        )

    async def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        validate_event_id(event_id)
        steps = operations.event(self._sql, event_id)
        return await self._db.perform(f"reading event {event_id}", steps)

    def list_streams(self, *, category: str | None = None) -> AsyncIterator[StreamInfo]:
        validate_category(category)
        return self._db.emitted("listing streams", operations.streams(self._sql, category))

    async def head(self) -> Checkpoint:
        """The checkpoint of the last visible event, once those committed before the call show."""
        return await self._settled()

    async def _head(self) -> tuple[Checkpoint, bool]:
        return await self._db.perform("reading the log head", operations.head(self._sql))

    async def _settled(self) -> Checkpoint:
        steps = operations.settled(self._sql, self.visibility_wait)
        return await self._db.perform("reading the log head", steps)

    # -- following -----------------------------------------------------------------

    async def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        """Wait on LISTEN until an event past `after` is visible, or `timeout` passes."""
        if self._db.closed:
            raise StoreError(f"waiting for events: the store of {self.location.display} is closed")
        checkpoint = validate_checkpoint(after)
        return await self._listener.wait(checkpoint, wait_timeout(timeout), self._head)

    # -- snapshots -------------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(
                self.location.display, f"saving a snapshot of {snapshot.stream_id}"
            )
        validate_snapshot(snapshot)
        await self._db.perform(
            f"saving a snapshot of {snapshot.stream_id}",
            operations.save_snapshot(self._sql, snapshot),
        )

    async def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        validate_snapshot_query(stream_id, name, schema_version, max_version)
        return await self._db.perform(
            f"loading a snapshot of {stream_id}",
            operations.load_snapshot(self._sql, stream_id, name, schema_version, max_version),
        )

    # -- lifetime --------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._db.closed:
            return
        await self._listener.close()
        await self._db.close()

    async def __aenter__(self) -> AsyncPostgresEventStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncPostgresEventStore({self.location.display!r}, schema={self.schema!r})"


async def _each(
    batches: AsyncIterator[list[Any]], build: Callable[[list[Any]], list[T]]
) -> AsyncIterator[T]:
    """Each item that `build` makes of each batch of rows."""
    async for rows in batches:
        for item in build(rows):
            yield item


def _prepare_schema(location: PostgresLocation, kwargs: dict[str, Any], create: bool) -> None:
    try:
        with psycopg.connect(location.conninfo, **kwargs) as conn:
            check_schema(conn, location, create)
    except psycopg.Error as exc:
        raise convert(exc, "opening the store", location) from exc
