"""How the PostgreSQL store's connections are set up (the same for a blocking or asyncio edge).

Autocommit (each append is one statement, hence one transaction), UTC session
time zone (recorded_at comes back as UTC), synchronous_commit off only for
`durability="fast"`, and jsonb read as raw bytes: RecordedEvent decodes
metadata only if someone reads it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

from histoire.store.postgres_schema import PostgresLocation


class JsonbAsBytes(Loader):
    """Leaves a jsonb value (text format) as its JSON bytes."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class JsonbAsBytesBinary(Loader):
    """Leaves a jsonb value (binary format) as its JSON bytes."""

    format = Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data[1:])  # the first byte is jsonb's format version


def adapters() -> AdaptersMap:
    """psycopg's adapters, with jsonb loaded as bytes."""
    adapted = AdaptersMap(psycopg.adapters)
    adapted.register_loader("jsonb", JsonbAsBytes)
    adapted.register_loader("jsonb", JsonbAsBytesBinary)
    return adapted


def connection_kwargs(
    location: PostgresLocation, connect_timeout: float, prepare_threshold: int | None
) -> dict[str, Any]:
    """Keyword arguments of psycopg.connect (and of the pool) for a store's sessions.

    Session options given in the URL (`?options=...`) are kept; ours are added.
    """
    given = psycopg.conninfo.conninfo_to_dict(location.conninfo)
    options = [str(given["options"])] if given.get("options") else []
    options.append("-c TimeZone=UTC")
    if location.durability == "fast":
        options.append("-c synchronous_commit=off")
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": prepare_threshold,
        "context": adapters(),
        "options": " ".join(options),
    }
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = str(max(2, round(connect_timeout)))
    return kwargs
