"""The PostgreSQL store's location and schema: URL options, migrations, version checks.

A store lives in one schema of one database (`histoire` unless told
otherwise), so that several applications can share a database. Its tables
come from the numbered files in `migrations/`, applied in order, each once,
under an advisory lock: two processes opening a new store at once are safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from histoire.core.errors import (
    InvalidInputError,
    InvalidStoreURLError,
    SchemaError,
    StoreNotFoundError,
)

Durability = Literal["full", "fast"]
DEFAULT_SCHEMA = "histoire"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,49}")
_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class PostgresLocation:
    """Where a store lives: libpq connection string, schema, durability."""

    conninfo: str
    """The URL given, without histoire's own query parameters (for psycopg)."""
    schema: str
    durability: Durability
    display: str
    """The URL without its password, for messages."""
    host: str
    """`host:port` (or the socket folder), for messages."""

    @property
    def channel(self) -> str:
        """The NOTIFY channel appends announce themselves on."""
        return f"{self.schema}_appended"


def parse_url(
    url: str, schema: str | None = None, durability: str | None = None
) -> PostgresLocation:
    """Split a `postgresql://` URL into what psycopg gets and histoire's options.

    `?schema=name` and `?durability=full|fast` are histoire's; every other
    query parameter (sslmode, options, ...) is left for libpq. A keyword
    argument and a URL parameter that disagree are an error.
    """
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError as exc:
        raise InvalidStoreURLError(url, str(exc)) from exc
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise InvalidStoreURLError(url, "a PostgreSQL URL starts with postgresql://")
    ours = {k: v for k, v in query if k in ("schema", "durability")}
    rest = [(k, v) for k, v in query if k not in ("schema", "durability")]
    # quote, not urlencode's quote_plus: libpq reads a "+" as a plus, not as a space
    libpq_query = urlencode(rest, quote_via=quote)
    conninfo = urlunsplit(parts._replace(query=libpq_query))
    display = _without_password(parts._replace(query=libpq_query))
    chosen_schema = _pick(url, "schema", schema, ours.get("schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.fullmatch(chosen_schema):
        raise InvalidInputError(
            f"invalid schema name {chosen_schema!r}: use 1 to 50 lowercase letters, digits "
            "or '_', not starting with a digit"
        )
    chosen_durability = _pick(url, "durability", durability, ours.get("durability"), "full")
    if chosen_durability not in ("full", "fast"):
        raise InvalidStoreURLError(
            url, f"durability must be 'full' or 'fast', not {chosen_durability!r}"
        )
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise InvalidStoreURLError(display, str(exc)) from exc
    host = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    return PostgresLocation(
        conninfo=conninfo,
        schema=chosen_schema,
        durability=chosen_durability,  # type: ignore[arg-type]
        display=display,
        host=host,
    )


def _pick(url: str, name: str, keyword: str | None, in_url: str | None, default: str) -> str:
    if keyword is not None and in_url is not None and keyword != in_url:
        raise InvalidStoreURLError(
            url, f"{name}={in_url!r} in the URL but {name}={keyword!r} given as argument"
        )
    return keyword if keyword is not None else in_url if in_url is not None else default


def _without_password(parts: Any) -> str:
    if parts.password is None:
        return str(urlunsplit(parts))
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return str(urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}")))


# -- migrations ----------------------------------------------------------------


@cache
def migrations() -> tuple[tuple[int, str, str], ...]:
    """The numbered migration scripts: (version, file name, SQL template), in order."""
    folder = resources.files("histoire.store.postgres").joinpath("migrations")
    found = []
    for item in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    found.sort()
    if [v for v, _, _ in found] != list(range(1, len(found) + 1)):
        names = [name for _, name, _ in found]
        raise SchemaError(f"PostgreSQL migrations are not numbered 1..N: {names}")
    return tuple(found)


def latest_version() -> int:
    """The schema version this histoire writes and reads."""
    return migrations()[-1][0]


def render(template: str, location: PostgresLocation) -> str:
    """A migration script with its schema and channel filled in."""
    schema = sql.Identifier(location.schema).as_string(None)
    channel = sql.Literal(location.channel).as_string(None)
    return template.replace("{schema}", schema).replace("{channel}", channel)


def lock_key(schema: str) -> int:
    """The advisory lock key that serialises migrations of one schema."""
    digest = hashlib.blake2b(f"histoire:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def schema_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The version of the histoire schema `schema` in the database (0: none)."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL",
        (sql.Identifier(schema, "schema_versions").as_string(None),),
    ).fetchone()
    if not row or not row[0]:
        return 0
    query = sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
        sql.Identifier(schema, "schema_versions")
    )
    found = conn.execute(query).fetchone()
    return int(found[0]) if found else 0


def check_schema(conn: psycopg.Connection[Any], location: PostgresLocation, create: bool) -> int:
    """Make sure the schema is at the latest version, migrating if `create` allows."""
    version = schema_version(conn, location.schema)
    latest = latest_version()
    if version == latest:
        return version
    if version > latest:
        raise SchemaError(
            f"schema {location.schema!r} of {location.display} is at version {version}, "
            f"newer than this histoire ({latest}); upgrade histoire"
        )
    if not create:
        if version == 0:
            raise StoreNotFoundError(f"{location.display} (schema {location.schema!r})")
        raise SchemaError(
            f"schema {location.schema!r} of {location.display} is at version {version}, "
            f"this histoire needs {latest}; run histoire.store.postgres.migrate(url) "
            "or open the store with create=True"
        )
    return apply_migrations(conn, location)


def apply_migrations(
    conn: psycopg.Connection[Any], location: PostgresLocation, up_to: int | None = None
) -> int:
    """Apply the missing migrations (up to version `up_to`) in one transaction, under a lock.

    Returns the schema's version. `up_to` is for tests of upgrades from an older schema.
    """
    versions = sql.Identifier(location.schema, "schema_versions")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(location.schema),))
        exists = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (location.schema,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(location.schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(versions)
        )
        current = schema_version(conn, location.schema)
        for version, name, template in migrations():
            if version <= current or (up_to is not None and version > up_to):
                continue
            conn.execute(render(template, location).encode())
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(versions),
                (version, name),
            )
        return schema_version(conn, location.schema)
