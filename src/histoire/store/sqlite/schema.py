"""The SQLite store's schema: its version, and its creation from `migrations/`."""

from __future__ import annotations

import sqlite3
from importlib import resources
from typing import Final

from histoire.core.errors import SchemaError
from histoire.store.sqlite.checks import refuse_foreign_tables
from histoire.store.sqlite.errors import DRIVER_ERRORS, convert

SCHEMA_VERSION: Final = 1


def ensure_schema(
    conn: sqlite3.Connection, url: str, create: bool, into_existing_database: bool = False
) -> None:
    """Make sure the database at `url` holds the current schema, creating it if `create`.

    A file holding another application's tables is refused unless
    `into_existing_database`.
    """
    try:
        version = schema_version(conn)
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{url} has schema version {version}, newer than this histoire "
                f"({SCHEMA_VERSION}); upgrade histoire"
            )
        if not create:
            raise SchemaError(f"{url} holds no histoire event store")
        if not into_existing_database:
            refuse_foreign_tables(conn, url)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) == 0:
                script = (
                    resources.files("histoire.store.sqlite")
                    .joinpath("migrations/0001_initial.sql")
                    .read_text()
                )
                for statement in split_sql(script):
                    conn.execute(statement)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS histoire_meta "
                    "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                conn.execute(
                    "INSERT INTO histoire_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except DRIVER_ERRORS as exc:
        raise convert(exc, f"preparing the schema of {url}") from exc


def schema_version(conn: sqlite3.Connection) -> int:
    """The histoire schema version of the database (0: none)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'histoire_meta'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM histoire_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def split_sql(script: str) -> list[str]:
    """Split a schema script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        text = "\n".join(current)
        if stripped.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements
