"""The blocking PostgreSQL store's connections: a psycopg pool, retries, error conversion.

Every command runs through `StorePool.run`: it borrows a pooled connection,
converts psycopg's errors into histoire's, and replaces a connection found
dead (the server restarted since it was pooled) before trying once more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus

from histoire.core.errors import StoreError
from histoire.core.recorded import RecordedEvent
from histoire.store.postgres.errors import convert, is_connection_lost
from histoire.store.postgres.operations import Steps
from histoire.store.postgres.schema import PostgresLocation
from histoire.store.postgres.sql import IN_INDEX_ORDER, event_rows

T = TypeVar("T")
Conn = psycopg.Connection[Any]
IDLE = TransactionStatus.IDLE


ASIDE_WAIT = 0.5
"""How long `StorePool.fetch_aside` waits for a pooled connection before opening its own."""


class StorePool:
    """The connections of one store: a pool for commands, direct ones on request."""

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
        self._sizes = (min_size, max_size, timeout)
        self._pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            location.conninfo,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=True,
            name=f"histoire-{location.schema}",
        )
        self.closed = False
        # Connections borrowed from the pool and kept, idle, for the next command:
        # psycopg_pool's getconn + putconn cost 5 us of Python per command, a list's
        # pop + append under a lock 0.3. Kept only while no thread waits in the
        # pool's getconn (so no one waits for a connection that sits here), and
        # every `_THROUGH_POOL`-th return goes back to the pool (its upkeep:
        # max_lifetime, replacing broken connections) all the same.
        self._idle: list[Conn] = []
        self._idle_lock = threading.Lock()
        self._waiting = 0
        self._returns = 0

    @property
    def max_size(self) -> int:
        """The most connections the pool opens."""
        return self._sizes[1]

    def fresh(self) -> StorePool:
        """A new pool with this one's settings (in a forked child: see `store.forks`)."""
        min_size, max_size, timeout = self._sizes
        return StorePool(
            self.location, self._kwargs, min_size=min_size, max_size=max_size, timeout=timeout
        )

    def convert(self, exc: BaseException, doing: str) -> Exception:
        """The histoire error for a psycopg error met while `doing` something."""
        return convert(exc, doing, self.location)

    def connect(self, doing: str) -> Conn:
        """A new connection of our own (not pooled), set up like the pooled ones."""
        return connect(self.location, self._kwargs, doing)

    def run(self, doing: str, work: Callable[[Conn], T]) -> T:
        """Run `work` on a pooled connection; errors come out as histoire's.

        A connection found dead is replaced and `work` tried once more: reads
        are safe to repeat, and so are appends, which are idempotent by event id.
        """
        if self.closed:
            raise StoreError(f"{doing}: the store of {self.location.display} is closed")
        # _borrow/_give_back rather than the pool's connection() context: no context
        # manager, no commit of an autocommit connection, usually not even the pool's
        # getconn/putconn; a connection left in a transaction or broken goes back to
        # the pool, which rolls it back or replaces it.
        for attempt in (1, 2):
            try:
                conn = self._borrow()
            except psycopg_pool.PoolTimeout as exc:
                raise self.convert(self._why_no_connection(exc), doing) from exc
            except psycopg.Error as exc:  # the pool closed meanwhile
                raise self.convert(exc, doing) from exc
            try:
                return work(conn)
            except psycopg.Error as exc:
                if attempt == 2 or not is_connection_lost(exc):
                    raise self.convert(exc, doing) from exc
            finally:
                self._give_back(conn)
            self._return_idle()  # they may be lost too: the pool checks them
            self._pool.check()
        raise AssertionError("unreachable")  # pragma: no cover

    def _borrow(self, timeout: float | None = None) -> Conn:
        """A connection: a kept idle one, else one of the pool's (waiting up to `timeout`,
        by default the pool's)."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
            self._waiting += 1
        try:
            return self._pool.getconn(timeout)
        finally:
            with self._idle_lock:
                self._waiting -= 1

    def _give_back(self, conn: Conn) -> None:
        """Keep `conn` for the next command if it is idle and no one waits for the pool's;
        else return it to the pool (which rolls back or replaces a connection that is not)."""
        if conn.pgconn.transaction_status == IDLE:
            with self._idle_lock:
                self._returns += 1
                if not (self._waiting or self.closed or self._returns % _THROUGH_POOL == 0):
                    self._idle.append(conn)
                    return
        self._pool.putconn(conn)

    def _return_idle(self) -> None:
        """Return the kept connections to the pool."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._pool.putconn(conn)

    def _why_no_connection(self, timeout: psycopg_pool.PoolTimeout) -> psycopg.Error:
        """The real reason the pool has no connection, if connecting now fails."""
        try:
            kwargs = {**self._kwargs, "connect_timeout": "2"}
            psycopg.connect(self.location.conninfo, **kwargs).close()
        except psycopg.Error as exc:
            return exc
        return timeout

    @contextmanager
    def transaction(
        self, doing: str, *, read_only: bool = False, durable: bool = True
    ) -> Iterator[tuple[Conn, tuple[str, ...]]]:
        """A pooled connection for one transaction, and the statements that begin it.

        The caller sends the BEGIN statements with its first statement, in one
        round trip (`PostgresTransaction`); the transaction is committed on a
        clean exit, if it began. Errors of the body go out as they are (a
        read-model handler's own error); errors of COMMIT or the pool come out
        as histoire's.
        """
        if self.closed:
            raise StoreError(f"{doing}: the store of {self.location.display} is closed")
        if read_only:
            begin: tuple[str, ...] = ("BEGIN READ ONLY",)
        elif durable:
            begin = ("BEGIN",)
        else:
            begin = ("BEGIN", "SET LOCAL synchronous_commit = off")
        try:
            conn = self._borrow()
        except psycopg_pool.PoolTimeout as exc:
            raise self.convert(self._why_no_connection(exc), doing) from exc
        try:
            try:
                yield conn, begin
            except BaseException:
                # A connection lost mid-transaction cannot roll back: the error that
                # lost it is the one to raise; the pool discards the connection.
                with suppress(psycopg.Error):
                    conn.rollback()
                raise
            if conn.info.transaction_status == IDLE:
                return  # nothing ran: nothing began
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                raise self.convert(exc, doing) from exc
        finally:
            self._give_back(conn)

    def fetch(self, query: str, params: Sequence[Any], doing: str) -> list[tuple[Any, ...]]:
        """The rows of one query, in binary."""

        def work(conn: Conn) -> list[tuple[Any, ...]]:
            return cursor_of(conn).execute(query, params).fetchall()

        return self.run(doing, work)

    def fetch_aside(self, query: str, params: Sequence[Any], doing: str) -> list[tuple[Any, ...]]:
        """The rows of one query, in binary, on a pooled connection free within
        `ASIDE_WAIT` seconds, else (or once the pool is closed) on a new connection of
        its own. For reads whose caller may itself hold the pool's connections (a light
        record's envelope, asked for in a handler's transaction): they never wait for
        a connection that only their caller would give back."""
        conn: Conn | None = None
        if not self.closed:
            with suppress(psycopg_pool.PoolTimeout, psycopg.Error):
                conn = self._borrow(ASIDE_WAIT)
        try:
            if conn is not None:
                return cursor_of(conn).execute(query, params).fetchall()
            with self.connect(doing) as own:
                return own.cursor(binary=True).execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise self.convert(exc, doing) from exc
        finally:
            if conn is not None:
                self._give_back(conn)

    def fetch_ordered(self, query: str, params: Sequence[Any], doing: str) -> list[tuple[Any, ...]]:
        """The rows of one keyset query of the log, read in index order, in binary."""
        return self.run(doing, lambda conn: execute(conn, "ordered", query, params))

    def fetch_events(self, query: str, params: Sequence[Any], doing: str) -> list[RecordedEvent]:
        """The rows of one query of `EVENT_COLUMNS`, as RecordedEvents."""

        def work(conn: Conn) -> list[RecordedEvent]:
            with conn.cursor(binary=True, row_factory=event_rows) as cursor:
                return cursor.execute(query, params).fetchall()

        return self.run(doing, work)

    # -- operations (`operations`): the store's logic, performed blocking -------------

    def perform(self, doing: str, steps: Steps[T]) -> T:
        """Run an operation, each statement on a pooled connection of its own."""
        reply: Any = None
        while True:
            try:
                how, query, params = steps.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply = self._request(doing, how, query, params)

    def emitted(self, doing: str, steps: Steps[None]) -> Iterator[Any]:
        """The items an operation emits, its statements run as `perform` does."""
        reply: Any = None
        while True:
            try:
                how, query, params = steps.send(reply)
            except StopIteration:
                return
            if how == "emit":
                yield from params
                reply = None
            else:
                reply = self._request(doing, how, query, params)

    def _request(self, doing: str, how: str, query: str, params: Sequence[Any]) -> Any:
        if how == "sleep":
            time.sleep(params[0])
            return None
        return self.run(doing, lambda conn: execute(conn, how, query, params))

    def perform_on_one(self, doing: str, operation: Callable[[], Steps[T]]) -> T:
        """Run an operation on one pooled connection; a statement's psycopg error goes
        into the operation first. A lost connection runs a new `operation()` once more."""

        def work(conn: Conn) -> T:
            steps = operation()
            reply: Any = None
            error: psycopg.Error | None = None
            while True:
                try:
                    how, query, params = steps.send(reply) if error is None else steps.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                reply = error = None
                try:
                    reply = execute(conn, how, query, params)
                except psycopg.Error as exc:
                    error = exc

        return self.run(doing, work)

    def close(self) -> None:
        """Close every pooled connection; later commands raise StoreError."""
        self.closed = True
        self._return_idle()
        self._pool.close()


_THROUGH_POOL = 100
"""Every this many returns of a connection, it goes back to the pool, for the pool's upkeep."""

_CURSOR = "_histoire_cursor"


def cursor_of(conn: Conn) -> psycopg.Cursor[Any]:
    """The binary cursor of a pooled connection, made on its first statement.

    A cursor remembers the dumpers of its parameters' types and the loaders of
    its columns; a new cursor per statement (`conn.execute`) looked them up
    again each time: 32 instead of 20 us per statement. A pooled connection
    serves one thread at a time, so its cursor does too. It keeps its last
    result until its next statement (one batch at most), and goes with its
    connection (an attribute of it: no registry outlives a connection).
    """
    cursor: psycopg.Cursor[Any] | None = getattr(conn, _CURSOR, None)
    if cursor is None or cursor.closed:
        cursor = conn.cursor(binary=True)
        setattr(conn, _CURSOR, cursor)
    return cursor


def execute(conn: Conn, how: str, query: str, params: Sequence[Any]) -> Any:
    """One statement of an operation on `conn`: its row, rows, events, or nothing;
    "ordered": the rows of a keyset query, read in index order (`IN_INDEX_ORDER`)."""
    if how == "ordered":
        with conn.pipeline():
            conn.execute(IN_INDEX_ORDER)
            cursor = conn.execute(query, params, binary=True)
        return cursor.fetchall()
    if how == "events":
        with conn.cursor(binary=True, row_factory=event_rows) as events:
            return events.execute(query, params).fetchall()
    cursor = cursor_of(conn).execute(query, params)
    if how == "row":
        return cursor.fetchone()
    return cursor.fetchall() if how == "rows" else None


def connect(location: PostgresLocation, kwargs: dict[str, Any], doing: str) -> Conn:
    """A new connection, with psycopg's errors converted."""
    try:
        return psycopg.connect(location.conninfo, **kwargs)
    except psycopg.Error as exc:
        raise convert(exc, doing, location) from exc
