"""Transactions on a store's own database, for read models written beside the events.

A projection whose read model lives in the event store's database writes its
rows and its checkpoint in one `Transaction`: both commit, or neither does.
That makes "exactly once" a property of the schema, not of the runner.

SQL runs as given, in the database's own dialect (`tx.dialect` is `"sqlite"`
or `"postgresql"`; placeholders are `?` and `%s`). A statement that fails
raises histoire's error for it, naming the statement (StoreUnavailableError if
the server went away, IntegrityError for a constraint, StoreError otherwise),
never the driver's. The memory store's read models live in an in-memory SQLite
database, so that they run in tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import lru_cache
from typing import Any, Literal, NoReturn, Protocol, runtime_checkable

from histoire.core.errors import HistoireError, InvalidInputError, SchemaError, StoreError

Dialect = Literal["sqlite", "postgresql"]
_SQLITE_READONLY = 8  # SQLite's primary result code for a write refused
Convert = Callable[[Any, str], HistoireError]
"""A backend's conversion of its driver's error met while doing something (said)."""


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

    def require_change(self, sql: str, params: Sequence[Any] = ()) -> bool:
        """Run one INSERT or UPDATE (without RETURNING) that must change a row: whether it did.

        In a deferring block on PostgreSQL it is sent ahead like a write and
        gives True at once; if it changes no row, the transaction fails there
        (an error raised later, as for any write sent ahead) and cannot commit.
        """
        ...

    def deferring(self, *, commit: bool = False) -> AbstractContextManager[bool]:
        """A block whose writes may be sent ahead, without waiting for each reply.

        Gives True where it does so (PostgreSQL: `execute` of an INSERT, UPDATE,
        DELETE or MERGE without RETURNING returns [] at once, the statement
        queued in the connection's pipeline; any other statement, and the end
        of the block, wait for every reply). An error of a statement sent ahead
        is then raised later than its `execute`, by a later statement or by
        the end of the block: a caller that must know which statement failed
        rolls back and does the work again outside such a block. On SQLite,
        where a statement costs no round trip, consecutive such writes of one
        text are held and run as one executemany (cheaper per row), when
        another statement comes or at the end of the block: their errors come
        late too, and it gives True as well.

        With `commit`, the block's clean end also commits the transaction (on
        PostgreSQL, COMMIT goes out with the writes sent ahead, in the same
        round trip): nothing may run in the transaction after the block.
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


class _Holding:
    """Consecutive writes of one text, their values plain, held to run as one executemany
    (cheaper per row than an execute each) when another statement comes."""

    _held_sql: str
    _held: list[tuple[Any, ...]]

    def _hold(self, sql: str, params: Sequence[Any]) -> bool:
        """Hold this write if its values cannot change any more; whether it was held."""
        if not holdable(params):
            return False
        if sql != self._held_sql:
            self._release()
            self._held_sql = sql
        self._held.append(tuple(params))
        return True

    def _release(self) -> None:
        raise NotImplementedError


class SQLiteTransaction(_Holding):
    """A Transaction on an sqlite3 connection already inside BEGIN."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, convert: Convert, *, read_only: bool) -> None:
        self._conn = conn
        self._convert = convert
        self._read_only = read_only
        self._deferring = False
        self._held_sql = ""  # inside `deferring`: consecutive writes of one text ...
        self._held: list[tuple[Any, ...]] = []  # ... run as one executemany when another comes

    def table(self, name: str) -> str:
        return quote_identifier(name)

    def table_names(self, prefix: str) -> list[str]:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?"
        return sorted(r[0] for r in self.execute(sql, (len(prefix), prefix)))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._deferring:
            held = sql == self._held_sql  # the next of a run (one handler call per event)
            if held and type(params) is tuple and _PLAIN.issuperset(map(type, params)):
                self._held.append(params)
                return []
            if returns_no_rows(sql) and self._hold(sql, params):
                return []
            self._release()
        try:
            return self._conn.execute(sql, params).fetchall()
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            self._failed(exc, sql)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._release()
        try:
            self._conn.executemany(sql, rows)
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            self._failed(exc, sql)

    def _release(self) -> None:
        """Run the writes held, as one executemany (cheaper per row than an execute each)."""
        rows = self._held
        if rows:
            sql, self._held = self._held_sql, []
            try:
                self._conn.executemany(sql, rows)
            except (sqlite3.Error, UnicodeEncodeError) as exc:
                self._failed(exc, sql)

    def require_change(self, sql: str, params: Sequence[Any] = ()) -> bool:
        self._release()
        try:
            return bool(self._conn.execute(sql, params).rowcount > 0)
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            self._failed(exc, sql)

    def _failed(self, error: Exception, sql: str) -> NoReturn:
        refused = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_READONLY
        failed(error, sql, self._convert, write_refused=self._read_only and refused)

    def hold(self, key: str, *, exclusive: bool) -> None:
        # Nothing to do: a SQLite read transaction keeps its snapshot, dropped tables
        # included, and writers (a swap among them) take turns at the one write lock.
        return None

    @contextmanager
    def deferring(self, *, commit: bool = False) -> Iterator[bool]:
        # In-process: a statement costs no round trip, but an execute each costs more
        # Python than one executemany for a run of them. COMMIT comes at the end.
        if self._deferring:
            yield True  # already inside one
            return
        self._deferring = True
        try:
            yield True
            self._release()
        finally:
            self._deferring = False
            self._held_sql, self._held = "", []


_INLINED = (str, int, type(None))
"""Parameter types a client-side binding writes as PostgreSQL reads them server-side."""


class PostgresTransaction(_Holding):
    """A Transaction on a psycopg connection, begun by its first statement.

    `begin` (BEGIN and its settings) goes out with the first statement, in one
    round trip: a projection's batch pays one round trip less between an
    append and its view. They share one simple query, the statement's
    parameters bound by the client (`client_cursor`), when these are text,
    integers or NULL (the checkpoint and generation queries that open a
    projection's batch); otherwise BEGIN goes first, on its own.
    """

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        conn: Any,
        schema: str,
        convert: Convert,
        driver_error: type[Exception],
        *,
        read_only: bool,
        begin: Sequence[str] = (),
        client_cursor: Callable[[Any], Any] | None = None,
    ) -> None:
        self._read_only = read_only
        self._conn = conn
        self._schema = schema
        self._quoted_schema = quote_identifier(schema)
        self._convert = convert
        self._driver_error = driver_error  # psycopg.Error (psycopg is an optional dependency)
        self._begin = tuple(begin)
        self._client_cursor = client_cursor  # psycopg.ClientCursor
        self._ahead: Any = None  # inside `deferring`: the cursor that sends writes ahead ...
        self._pipeline: Any = None  # ... and the pipeline they are in, until a read comes
        self._held_sql = ""  # consecutive writes of one text, sent as one executemany
        self._held: list[tuple[Any, ...]] = []
        self._failure: str | None = None  # the first statement that failed, if one did

    def table(self, name: str) -> str:
        return f"{self._quoted_schema}.{quote_identifier(name)}"

    def table_names(self, prefix: str) -> list[str]:
        sql = (
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s "
            "AND left(tablename, %s) = %s"
        )
        return sorted(r[0] for r in self.execute(sql, (self._schema, len(prefix), prefix)))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._ahead is not None:
            if returns_no_rows(sql):
                return self._send_ahead(sql, params)
            self._catch_up()  # the writes sent ahead, then this statement as usual
        try:
            cursor = self._first(sql, params) if self._begin else self._conn.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
        except (self._driver_error, UnicodeEncodeError) as exc:
            self._failed(exc, sql)

    def _first(self, sql: str, params: Sequence[Any]) -> Any:
        """The cursor of the first statement, sent after BEGIN in one round trip if it can."""
        values = params.values() if isinstance(params, Mapping) else params
        if self._client_cursor is None or any(type(p) not in _INLINED for p in values):
            self._start()
            return self._conn.execute(sql, params)
        begin, self._begin = self._begin, ()
        cursor = self._client_cursor(self._conn)
        cursor.execute("; ".join((*begin, sql)), params)
        while cursor.nextset():  # the statement's result is the last one
            pass
        return cursor

    def _start(self) -> None:
        """Send BEGIN now (queue it, in a pipeline), if no statement has yet."""
        if self._begin:
            begin, self._begin = self._begin, ()
            if self._pipeline is None:
                self._conn.execute("; ".join(begin))
            else:
                for statement in begin:  # one statement per query in a pipeline
                    self._conn.execute(statement)

    def require_change(self, sql: str, params: Sequence[Any] = ()) -> bool:
        if self._ahead is None:
            return bool(self.execute(f"{sql} RETURNING 1", params))
        # Sent ahead: no row changed fails the statement (a division by zero), and
        # with it the transaction, which then cannot commit.
        self._release()
        checked = f"WITH changed AS ({sql} RETURNING 1) SELECT 1 / count(*) FROM changed"
        self._send(lambda: self._ahead.execute(checked, params), sql)
        return True

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._ahead is not None:
            self._catch_up()
        try:
            self._start()
            with self._conn.cursor() as cursor:
                cursor.executemany(sql, rows)  # pipelined by psycopg already
        except (self._driver_error, UnicodeEncodeError) as exc:
            self._failed(exc, sql)

    @contextmanager
    def deferring(self, *, commit: bool = False) -> Iterator[bool]:
        if self._ahead is not None:
            yield True  # already inside one
            return
        with self._conn.cursor() as ahead:
            self._ahead = ahead
            try:
                yield True
                self._catch_up(commit=commit)
            finally:
                self._abandon()  # after an error of the block: its error is what goes out
                self._ahead = None

    def _send_ahead(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._hold(sql, params):
            return []  # sent with the next writes of the same text, as one executemany
        self._release()
        self._send(lambda: self._ahead.execute(sql, params), sql)
        return []

    def _release(self) -> None:
        """Send the writes held (into the pipeline, without waiting)."""
        rows = self._held
        if rows:
            sql, self._held = self._held_sql, []
            self._send(lambda: self._ahead.executemany(sql, rows), sql)

    def _send(self, send: Callable[[], None], sql: str) -> None:
        try:
            if self._pipeline is None:
                self._pipeline = self._conn.pipeline()
                self._pipeline.__enter__()
            self._start()  # BEGIN first, if no statement has gone yet
            send()
        except (self._driver_error, UnicodeEncodeError) as exc:
            # The replies are read as they come: the error may be an earlier write's.
            self._failed(exc, sql)

    def _catch_up(self, *, commit: bool = False) -> None:
        """Send the writes held, wait for the replies of those sent ahead; leave pipeline mode.

        With `commit`, COMMIT goes with them when some were sent (in the same round trip).
        """
        self._release()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                if commit:
                    self._queue_commit(pipeline)
                pipeline.__exit__(None, None, None)
            except self._driver_error as exc:
                self._failed(exc, "the statements sent ahead")

    def _queue_commit(self, pipeline: Any) -> None:
        """Queue COMMIT (the caller's commit then finds none left to do)."""
        try:
            self._conn.execute("COMMIT")  # may read replies already in: an earlier error
        except BaseException:
            with suppress(self._driver_error):
                pipeline.__exit__(None, None, None)  # out of pipeline mode, quietly
            raise

    def _abandon(self) -> None:
        # After an error of the block: what it wrote before goes out as it would have.
        with suppress(self._driver_error, HistoireError):
            self._release()
        self._held = []
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            with suppress(self._driver_error):
                pipeline.__exit__(None, None, None)

    def _failed(self, error: Exception, sql: str) -> NoReturn:
        state = getattr(error, "sqlstate", None)
        if state == "25P02" and self._failure is not None:  # in_failed_sql_transaction
            raise StoreError(
                f"running {_shown(sql)}: an earlier statement of this transaction failed "
                f"({self._failure}) and its error was caught; on PostgreSQL a failed "
                "statement ends the transaction (SQLite goes on): do not catch the errors "
                "of execute to go on, write INSERT ... ON CONFLICT, or look before writing"
            ) from error
        try:
            failed(error, sql, self._convert, write_refused=self._read_only and state == "25006")
        except HistoireError as exc:
            self._failure = f"{type(exc).__name__}: {exc}"
            raise

    def hold(self, key: str, *, exclusive: bool) -> None:
        # An advisory lock per (schema, key), released at the end of the transaction;
        # allowed in read-only transactions too.
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        self.execute(f"SELECT {function}(hashtextextended(%s, 0))", (f"{self._schema}\x1f{key}",))


def failed(error: Exception, sql: str, convert: Convert, *, write_refused: bool) -> NoReturn:
    """Raise histoire's error for a statement of a read model (or a follower) that failed.

    The statement is the caller's: a table it misses is its own, not histoire's
    schema, and a write refused in a read-only transaction is not a read-only store.
    """
    doing = f"running {_shown(sql)}"
    if isinstance(error, UnicodeEncodeError):
        raise InvalidInputError(
            f"{doing}: a parameter holds text that is not valid Unicode ({error.reason}: "
            f"{error.object[error.start : error.end]!r})"
        ) from error
    if write_refused:
        raise StoreError(
            f"{doing}: this transaction is read-only (a read model is written by its "
            "projection's handlers, not by its readers)"
        ) from error
    converted = convert(error, doing)
    if isinstance(converted, SchemaError):
        converted = StoreError(f"{doing}: {error}")
    raise converted from error


def _shown(sql: str) -> str:
    """`sql` on one line, cut to 120 characters, quoted: for error messages."""
    line = " ".join(sql.split())
    return repr(line if len(line) <= 120 else line[:117] + "...")


@contextmanager
def committing(
    conn: sqlite3.Connection, convert: Convert, *, read_only: bool
) -> Iterator[SQLiteTransaction]:
    """Commit `conn`'s open transaction on a clean exit, roll it back otherwise.

    Errors of the body go out as they are (a read-model handler's own error);
    an error of COMMIT itself goes out through `convert`. A `read_only` one
    refuses writes (`PRAGMA query_only` for its length).
    """
    if read_only:
        conn.execute("PRAGMA query_only=ON")
    try:
        with _committed(conn, convert):
            yield SQLiteTransaction(conn, convert, read_only=read_only)
    finally:
        if read_only:
            conn.execute("PRAGMA query_only=OFF")


@contextmanager
def _committed(conn: sqlite3.Connection, convert: Convert) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise convert(exc, "committing a read model") from exc


_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})
"""Parameter types whose values cannot change after the call (a write may be held)."""


def holdable(params: Sequence[Any]) -> bool:
    """Whether a write's parameters may be held for later (values that cannot change)."""
    return type(params) in (tuple, list) and _PLAIN.issuperset(map(type, params))


@lru_cache(maxsize=256)
def returns_no_rows(sql: str) -> bool:
    """Whether `sql` is one INSERT, UPDATE, DELETE or MERGE without RETURNING.

    Such a statement can be sent ahead of its reply (`Transaction.deferring`).
    Conservative: text that merely might return rows (a WITH, a RETURNING in a
    string, several statements) is said to, and waits for its reply.
    """
    words = sql.split(None, 1)
    if not words or words[0].lower() not in ("insert", "update", "delete", "merge"):
        return False
    return ";" not in sql and "returning" not in sql.lower()


def quote_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (the same rule in SQLite and PostgreSQL)."""
    if "\x00" in name:
        raise ValueError(f"an SQL identifier cannot hold NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'
