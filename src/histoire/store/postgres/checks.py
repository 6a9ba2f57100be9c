"""The checks the PostgreSQL store runs on its database, for `verify`.

The columns are typed, so a row cannot hold text where a version goes; what
can still be wrong is an empty string (found when `verify` reads the rows),
an event filed under another category than its stream id's, and a damaged
index: amcheck (a contrib extension) checks the b-trees, when it is installed.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from histoire.core.errors import CorruptEventError
from histoire.store.postgres.errors import is_connection_lost
from histoire.store.postgres.pool import Conn, StorePool
from histoire.store.self_checks import StorageCheck, misfiled

MAX_REPORTED = 100

_AMCHECK = (
    "SELECT n.nspname FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'amcheck'"
)
_BTREE_INDEXES = (
    "SELECT i.oid::regclass::text FROM pg_index AS x "
    "JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid "
    "JOIN pg_namespace AS n ON n.oid = t.relnamespace JOIN pg_am AS a ON a.oid = i.relam "
    "WHERE n.nspname = %s AND a.amname = 'btree' ORDER BY 1"
)
_NOT_INSTALLED = (
    "the amcheck extension is not installed in this database, so its indexes were not "
    "checked (a superuser can run CREATE EXTENSION amcheck)"
)


SAFE_SEARCH_PATH = "search_path=pg_catalog, pg_temp"


APPEND_FUNCTIONS = ("append_events", "append_event")
"""The functions the application role appends through (append_event since schema version 7)."""


def append_function_problems(rows: list[tuple[Any, ...]]) -> list[str]:
    """What is wrong with how the append functions run, from (name, prosecdef, proconfig,
    public may execute) rows of pg_proc (every function of the schema).

    The application role appends only through them (schema version 6): each must
    exist, run with its owner's rights, with its own search path, and not for PUBLIC.
    """
    problems: list[str] = []
    found = {row[0] for row in rows}
    problems.extend(f"function {name} is missing" for name in APPEND_FUNCTIONS if name not in found)
    for name, definer, config, public in rows:
        if name not in APPEND_FUNCTIONS:
            continue
        if not definer:
            problems.append(
                f"function {name} is not SECURITY DEFINER: an application role "
                "would need INSERT on events to append (docs/postgres.md, Roles)"
            )
        if SAFE_SEARCH_PATH not in config:
            problems.append(
                f"function {name} does not set {SAFE_SEARCH_PATH}: "
                "it would resolve names through its caller's search path"
            )
        if public:
            problems.append(f"function {name} may be called by PUBLIC (REVOKE it)")
    return problems


def storage_check(db: StorePool, schema: str, *, full: bool) -> StorageCheck:
    """amcheck's `bt_index_check` on every index of the store; with `full`, also
    that every row of the tables is in its indexes (`heapallindexed`)."""
    name = "amcheck bt_index_check" + (" (heapallindexed)" if full else "")

    def work(conn: Conn) -> StorageCheck:
        found = conn.execute(_AMCHECK).fetchone()
        if found is None:
            return StorageCheck(name, [], skipped=_NOT_INSTALLED)
        check = sql.SQL("SELECT {}.bt_index_check(%s::regclass, %s)").format(
            sql.Identifier(found[0])
        )
        problems: list[str] = []
        for (index,) in conn.execute(_BTREE_INDEXES, (schema,)).fetchall():
            try:
                with conn.transaction():
                    conn.execute(check, (index, full))
            except psycopg.errors.InsufficientPrivilege as exc:
                return StorageCheck(name, [], skipped=f"not allowed to run amcheck ({exc})")
            except psycopg.Error as exc:
                if is_connection_lost(exc):
                    raise
                problems.append(f"index {index}: {exc}")
        return StorageCheck(name, problems)

    return db.run("checking the indexes with amcheck", work)


def category_mismatches(db: StorePool, schema: str) -> list[CorruptEventError]:
    """Events whose category column is not their stream id's category.

    Filtering the log by category reads that column: an event filed under
    another category is hidden from the followers of its own.
    """
    query = sql.SQL(
        "SELECT position, stream_id, version, category, split_part(stream_id, '-', 1) "
        "FROM {}.events WHERE stream_id <> '' AND category <> split_part(stream_id, '-', 1) "
        "ORDER BY position LIMIT %s"
    ).format(sql.Identifier(schema))

    def work(conn: Conn) -> list[CorruptEventError]:
        return [misfiled(*row) for row in conn.execute(query, (MAX_REPORTED,)).fetchall()]

    return db.run("checking categories", work)
