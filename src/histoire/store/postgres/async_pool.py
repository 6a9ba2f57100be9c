"""The async PostgreSQL store's connections: psycopg's AsyncConnectionPool, retries, errors.

The asyncio twin of `pool`: every command borrows a pooled connection,
psycopg's errors come out as histoire's, and a connection found dead is
replaced before trying once more. A cancelled command gives its connection
back to the pool, which discards it if a statement was cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from histoire.core.errors import StoreError
from histoire.store.postgres.errors import convert, is_connection_lost
from histoire.store.postgres.operations import Steps
from histoire.store.postgres.schema import PostgresLocation
from histoire.store.postgres.sql import IN_INDEX_ORDER, event_rows

T = TypeVar("T")
AsyncConn = psycopg.AsyncConnection[Any]


class AsyncStorePool:
    """The connections of one async store: a pool for commands, direct ones on request."""

    def __init__(
        self,
        location: PostgresLocation,
        kwargs: dict[str, Any],
        *,
        min_size: int,
        max_size: int,
        timeout: float,
    ) -> None:
        self.location = location
        self._kwargs = kwargs
        self.pool: psycopg_pool.AsyncConnectionPool[AsyncConn] = psycopg_pool.AsyncConnectionPool(
            location.conninfo,
            connection_class=psycopg.AsyncConnection,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name=f"histoire-async-{location.schema}",
        )
        self.closed = False

    async def open(self, doing: str) -> None:
        """Open the pool and wait for its first connections."""
        try:
            await self.pool.open(wait=True, timeout=self.pool.timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            await self.pool.close()
            raise self.convert(await self._why_no_connection(exc), doing) from exc

    def convert(self, exc: BaseException, doing: str) -> Exception:
        """The histoire error for a psycopg error met while `doing` something."""
        return convert(exc, doing, self.location)

    async def connect(self, doing: str) -> AsyncConn:
        """A new connection of our own (not pooled), set up like the pooled ones."""
        try:
            return await psycopg.AsyncConnection.connect(self.location.conninfo, **self._kwargs)
        except psycopg.Error as exc:
            raise self.convert(exc, doing) from exc

    async def run(self, doing: str, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection; errors come out as histoire's.

        A connection found dead is replaced and `work` tried once more: reads
        are safe to repeat, and so are appends, which are idempotent by event id.
        """
        if self.closed:
            raise StoreError(f"{doing}: the store of {self.location.display} is closed")
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    return await work(conn)
            except psycopg_pool.PoolTimeout as exc:
                raise self.convert(await self._why_no_connection(exc), doing) from exc
            except psycopg.Error as exc:
                if attempt == 1 and is_connection_lost(exc):
                    await self.pool.check()
                    continue
                raise self.convert(exc, doing) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _why_no_connection(self, timeout: Exception) -> Exception:
        """The real reason the pool has no connection, if connecting now fails."""
        try:
            kwargs = {**self._kwargs, "connect_timeout": "2"}
            await (await psycopg.AsyncConnection.connect(self.location.conninfo, **kwargs)).close()
        except psycopg.Error as exc:
            return exc
        return timeout

    async def fetch(self, query: str, params: Sequence[Any], doing: str) -> list[tuple[Any, ...]]:
        """The rows of one query, in binary."""
        rows: list[tuple[Any, ...]] = await self._request(doing, "rows", query, params)
        return rows

    async def fetch_ordered(
        self, query: str, params: Sequence[Any], doing: str
    ) -> list[tuple[Any, ...]]:
        """The rows of one keyset query of the log, read in index order, in binary."""
        rows: list[tuple[Any, ...]] = await self._request(doing, "ordered", query, params)
        return rows

    # -- operations (`operations`): the store's logic, awaited -------------------------

    async def perform(self, doing: str, steps: Steps[T]) -> T:
        """Run an operation, each statement on a pooled connection of its own."""
        reply: Any = None
        while True:
            try:
                how, query, params = steps.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply = await self._request(doing, how, query, params)

    async def emitted(self, doing: str, steps: Steps[None]) -> AsyncIterator[Any]:
        """The items an operation emits, its statements run as `perform` does."""
        reply: Any = None
        while True:
            try:
                how, query, params = steps.send(reply)
            except StopIteration:
                return
            reply = None
            if how != "emit":
                reply = await self._request(doing, how, query, params)
                continue
            for item in params:
                yield item

    async def _request(self, doing: str, how: str, query: str, params: Sequence[Any]) -> Any:
        if how == "sleep":
            await asyncio.sleep(params[0])
            return None
        return await self.run(doing, lambda conn: execute(conn, how, query, params))

    async def perform_on_one(self, doing: str, operation: Callable[[], Steps[T]]) -> T:
        """Run an operation on one pooled connection; a statement's psycopg error goes
        into the operation first. A lost connection runs a new `operation()` once more."""

        async def work(conn: AsyncConn) -> T:
            steps = operation()
            reply: Any = None
            failure: psycopg.Error | None = None
            while True:
                try:
                    request = steps.send(reply) if failure is None else steps.throw(failure)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                reply = failure = None
                try:
                    reply = await execute(conn, *request)
                except psycopg.Error as exc:
                    failure = exc

        return await self.run(doing, work)

    async def close(self) -> None:
        """Close every pooled connection; later commands raise StoreError."""
        self.closed = True
        await self.pool.close()


async def execute(conn: AsyncConn, how: str, query: str, params: Sequence[Any]) -> Any:
    """One statement of an operation on `conn`: its row, rows, events, or nothing;
    "ordered": the rows of a keyset query, read in index order (`IN_INDEX_ORDER`)."""
    if how == "ordered":
        async with conn.pipeline():
            await conn.execute(IN_INDEX_ORDER)
            cursor = await conn.execute(query, params, binary=True)
        return await cursor.fetchall()
    if how == "events":
        async with conn.cursor(binary=True, row_factory=event_rows) as cursor:
            await cursor.execute(query, params)
            return await cursor.fetchall()
    cursor = await conn.execute(query, params, binary=True)
    if how == "row":
        return await cursor.fetchone()
    return await cursor.fetchall() if how == "rows" else None
