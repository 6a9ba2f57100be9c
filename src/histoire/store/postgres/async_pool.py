"""The async PostgreSQL store's connections: psycopg's AsyncConnectionPool, retries, errors.

The asyncio twin of `pool`: every command borrows a pooled connection,
psycopg's errors come out as histoire's, and a connection found dead is
replaced before trying once more. A cancelled command gives its connection
back to the pool, which discards it if a statement was cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from types import TracebackType
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


class Pinned:
    """One task's statements on one pooled connection: borrowed at the first, kept until
    `release` (or the end of the outermost `async with` block of that task), so that a
    command's read and append borrow once. A statement that fails with a psycopg
    error, or is cut short (cancelled), gives the connection back to the pool, which
    checks it. Other tasks, those the block starts included, borrow their own."""

    __slots__ = ("_db", "_depth", "_token", "conn", "task")

    def __init__(self, db: AsyncStorePool) -> None:
        self._db = db
        self._depth = 0
        self.conn: AsyncConn | None = None
        self.task = asyncio.current_task()

    async def __aenter__(self) -> Pinned:
        if not self._depth:
            self._token = self._db.pin.set(self)
        self._depth += 1
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if not self._depth:
            self._db.pin.reset(self._token)
            await self.release()

    async def release(self) -> None:
        """Give the connection back now (before a pause); the next statement borrows again."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await self._db.pool.putconn(conn)


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
        self.pin: ContextVar[Pinned | None] = ContextVar("histoire_pinned", default=None)

    def pinned(self) -> Pinned:
        """`async with pool.pinned():` the statements of this task in the block share
        one connection (see Pinned); inside another pinned block of this task, that one's."""
        return self._own_pin() or Pinned(self)

    def _own_pin(self) -> Pinned | None:
        """The calling task's pin, if it is inside a pinned block (a task started in
        another task's block sees that pin in its context, but does not own it)."""
        pin = self.pin.get()
        return pin if pin is not None and pin.task is asyncio.current_task() else None

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
        pin = self._own_pin()
        for attempt in (1, 2):
            try:
                if pin is None:
                    return await self._run_borrowed(work)
                return await self._run_pinned(pin, work)
            except psycopg_pool.PoolTimeout as exc:
                raise self.convert(await self._why_no_connection(exc), doing) from exc
            except psycopg.Error as exc:
                if attempt == 1 and is_connection_lost(exc):
                    await self.pool.check()
                    continue
                raise self.convert(exc, doing) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run_borrowed(self, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        # getconn/putconn rather than the pool's connection() context, as the blocking
        # store's `run`: no context manager, no commit of an autocommit connection (291
        # -> 262 Python calls a read; the CPU did not move beyond noise: psycopg's async
        # statement is most of it). The pool rolls back or replaces a connection given
        # back in a transaction, broken, or cut short.
        conn = await self.pool.getconn()
        try:
            return await work(conn)
        finally:
            await self.pool.putconn(conn)

    async def _run_pinned(self, pin: Pinned, work: Callable[[AsyncConn], Awaitable[T]]) -> T:
        conn = pin.conn
        if conn is None:
            conn = pin.conn = await self.pool.getconn()
        try:
            return await work(conn)
        except psycopg.Error:
            await pin.release()
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled mid-statement: the pool checks it
                await pin.release()
            raise

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
