"""Transactions on a store's own database, for read models written beside the events.

A projection whose read model lives in the event store's database writes its
rows and its checkpoint in one `Transaction`: both commit, or neither does.
That makes "exactly once" a property of the schema, not of the runner.

SQL runs as given, in the database's own dialect (`tx.dialect` is `"sqlite"`
or `"postgresql"`; placeholders are `?` and `%s`). The memory store's read
models live in an in-memory SQLite database, so that they run in tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, Protocol, runtime_checkable

Dialect = Literal["sqlite", "postgresql"]


class Transaction(Protocol):
    """One database transaction: read-model rows and checkpoints commit together."""

    dialect: Dialect

    def table(self, name: str) -> str:
        """`name` as a quoted table name in the store's namespace (its schema on PostgreSQL)."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (none for a write)."""
        ...

    def table_names(self, prefix: str) -> list[str]:
        """The unquoted names of the tables in the store's namespace that start with `prefix`."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        ...

    def hold(self, key: str, *, exclusive: bool) -> None:
        """Hold the lock named `key` until this transaction ends.

        Many holders may share it; an exclusive holder waits for them all, and
        they for it. Read-model readers share their projection's lock and a
        swap, which drops the old tables, holds it exclusively: a read that
        began before the swap reads the old tables to its end.
        """
        ...


@runtime_checkable
class TransactionalStore(Protocol):
    """A store whose database can hold read models (SQLite, PostgreSQL, memory)."""

    url: str

    def transaction(
        self, *, read_only: bool = False, durable: bool = True
    ) -> AbstractContextManager[Transaction]:
        """A transaction on the store's database, committed on a clean exit.

        A `read_only` one takes no write lock (for reading a read model). One
        not `durable` commits without waiting for the disk: a crash of the
        machine may lose the last ones, each whole (projections use it: their
        rows and checkpoint are derived from the log and are simply redone)."""
        ...


class SQLiteTransaction:
    """A Transaction on an sqlite3 connection already inside BEGIN."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def table(self, name: str) -> str:
        return quote_identifier(name)

    def table_names(self, prefix: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()
        return sorted(r[0] for r in rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def hold(self, key: str, *, exclusive: bool) -> None:
        # Nothing to do: a SQLite read transaction keeps its snapshot, dropped tables
        # included, and writers (a swap among them) take turns at the one write lock.
        return None


class PostgresTransaction:
    """A Transaction on a psycopg connection already inside BEGIN."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: Any, schema: str) -> None:
        self._conn = conn
        self._schema = schema
        self._quoted_schema = quote_identifier(schema)

    def table(self, name: str) -> str:
        return f"{self._quoted_schema}.{quote_identifier(name)}"

    def table_names(self, prefix: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s "
            "AND left(tablename, %s) = %s",
            (self._schema, len(prefix), prefix),
        ).fetchall()
        return sorted(r[0] for r in rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def hold(self, key: str, *, exclusive: bool) -> None:
        # An advisory lock per (schema, key), released at the end of the transaction;
        # allowed in read-only transactions too.
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        self._conn.execute(
            f"SELECT {function}(hashtextextended(%s, 0))", (f"{self._schema}\x1f{key}",)
        )


@contextmanager
def committing(
    conn: sqlite3.Connection, convert: Callable[[sqlite3.Error], Exception]
) -> Iterator[SQLiteTransaction]:
    """Commit `conn`'s open transaction on a clean exit, roll it back otherwise.

    Errors of the body go out as they are (a read-model handler's own error);
    an error of COMMIT itself goes out through `convert`.
    """
    try:
        yield SQLiteTransaction(conn)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise convert(exc) from exc


def quote_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (the same rule in SQLite and PostgreSQL)."""
    if "\x00" in name:
        raise ValueError(f"an SQL identifier cannot hold NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'
