"""How the PostgreSQL store's connections are set up (the same for a blocking or asyncio edge).

Autocommit (each append is one statement, hence one transaction), UTC session
time zone, synchronous_commit off only for `durability="fast"`, every
transaction read-only for a read-only store (the server refuses its writes
too, not only the API). Results are
read in binary, and the envelope fields RecordedEvent decodes lazily are left
raw: uuid as its 16 bytes, timestamptz as microseconds since the Unix epoch,
jsonb as its JSON bytes. A fold that never looks at them does not pay for them.
"""

from __future__ import annotations

import struct
from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

from histoire.store.postgres.arrays import DUMPERS
from histoire.store.postgres.schema import PostgresLocation


class JsonbAsBytes(Loader):
    """Leaves a jsonb value (text format) as its JSON bytes."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class JsonbAsBytesBinary(Loader):
    """Leaves a jsonb value (binary format) as its JSON bytes."""

    format = Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data[1:])  # the first byte is jsonb's format version


_INT8 = struct.Struct(">q").unpack
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in Unix microseconds


class TimestamptzAsMicroseconds(Loader):
    """Leaves a timestamptz (binary format) as microseconds since the Unix epoch."""

    format = Format.BINARY

    def load(self, data: Any) -> int:
        return int(_INT8(data)[0]) + _PG_EPOCH_US


def adapters() -> AdaptersMap:
    """psycopg's adapters, with the raw loaders above and our typed parameters."""
    adapted = AdaptersMap(psycopg.adapters)
    adapted.register_loader("jsonb", JsonbAsBytes)
    adapted.register_loader("jsonb", JsonbAsBytesBinary)
    # A uuid (binary format) as its 16 bytes: what bytea's loader does, in C with
    # psycopg's binary build (0.08 against 0.31 us per value for a Python loader).
    raw = psycopg.adapters.get_loader(psycopg.postgres.types["bytea"].oid, Format.BINARY)
    assert raw is not None  # psycopg always has one
    adapted.register_loader("uuid", raw)
    adapted.register_loader("timestamptz", TimestamptzAsMicroseconds)
    for cls, dumper in DUMPERS:
        adapted.register_dumper(cls, dumper)
    return adapted


def connection_kwargs(
    location: PostgresLocation,
    connect_timeout: float,
    prepare_threshold: int | None,
    read_only: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of psycopg.connect (and of the pool) for a store's sessions.

    Session options given in the URL (`?options=...`) are kept; ours are added.
    """
    given = psycopg.conninfo.conninfo_to_dict(location.conninfo)
    options = [str(given["options"])] if given.get("options") else []
    options.append("-c TimeZone=UTC -c client_encoding=UTF8")
    if location.durability == "fast":
        options.append("-c synchronous_commit=off")
    if read_only:
        options.append("-c default_transaction_read_only=on")
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": prepare_threshold,
        "context": adapters(),
        "options": " ".join(options),
    }
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = str(max(2, round(connect_timeout)))
    return kwargs
