"""The checks the SQLite store runs on its file, for `verify`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from histoire.core.errors import CorruptEventError, SchemaError
from histoire.store.self_checks import StorageCheck, misfiled
from histoire.store.sqlite.errors import DRIVER_ERRORS

MAX_REPORTED = 100
"""At most this many problems of one kind are reported: enough to act on."""

Fetch = Callable[[str, Sequence[Any], str], list[Any]]

# category_of(stream_id) in SQL: what comes before the first '-'.
_CATEGORY_OF = (
    "CASE WHEN instr(stream_id, '-') > 0 "
    "THEN substr(stream_id, 1, instr(stream_id, '-') - 1) ELSE stream_id END"
)


def storage_check(conn: sqlite3.Connection, *, full: bool) -> StorageCheck:
    """SQLite's `PRAGMA quick_check`, or the slower `integrity_check` with `full`.

    quick_check reads every page and checks the b-trees' structure; integrity_check
    also checks that every index matches its table, in time that grows faster
    than the file.
    """
    pragma = "integrity_check" if full else "quick_check"
    name = f"PRAGMA {pragma}"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({MAX_REPORTED})").fetchall()
    except DRIVER_ERRORS as exc:  # so damaged that the check itself stops
        return StorageCheck(name, [f"the check could not finish: {exc}"])
    # One finding may span lines, under a header naming the database ("main").
    messages = [
        line.strip()
        for row in rows
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("*** in database")
    ]
    return StorageCheck(name, [] if messages == ["ok"] else messages)


def category_mismatches(fetch: Fetch) -> list[CorruptEventError]:
    """Events whose category column is not their stream id's category.

    Filtering the log by category reads that column: an event filed under
    another category is hidden from the followers of its own.
    """
    rows = fetch(
        f"SELECT position, stream_id, version, category, {_CATEGORY_OF} FROM histoire_events "
        # A bad stream id is reported with its row; its category would be noise.
        f"WHERE typeof(stream_id) = 'text' AND stream_id <> '' "
        f"AND category IS NOT {_CATEGORY_OF} "
        "ORDER BY position LIMIT ?",
        (MAX_REPORTED,),
        "checking categories",
    )
    return [misfiled(*row) for row in rows]


def refuse_foreign_tables(conn: sqlite3.Connection, url: str) -> None:
    """Raise SchemaError if the file holds tables or views that are not histoire's.

    Creating a store in a file is a promise to own it: histoire adds its tables
    to another application's database only when told (`into_existing_database`).
    """
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'histoire\\_%' ESCAPE '\\' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
    ]
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise SchemaError(
            f"{url} holds the tables of another application ({shown}); histoire adds its "
            "own only to a database of its own, or when asked: "
            "open_store(url, into_existing_database=True), "
            "or histoire migrate --into-existing-database"
        )
