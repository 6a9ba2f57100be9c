"""Opening an async store from a URL: `memory://`, `sqlite:///path`, `postgresql://...`."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from histoire.core.errors import InvalidStoreURLError
from histoire.store.async_protocol import AsyncEventStore
from histoire.store.urls import SCHEMES, open_store

__all__ = ["open_async_store"]


async def open_async_store(url: str, **options: Any) -> AsyncEventStore:
    """Open the async event store at `url`; the options of `open_store`.

    Memory and SQLite stores wrap the blocking store `open_store` opens (in a
    thread: opening SQLite may wait for another process's lock); PostgreSQL
    opens psycopg's AsyncConnectionPool on the running loop.
    """
    scheme = urlsplit(url).scheme.lower() if isinstance(url, str) else ""
    if scheme in ("postgresql", "postgres"):
        from histoire.store.postgres.async_store import AsyncPostgresEventStore

        return await AsyncPostgresEventStore.open(url, **options)
    if scheme not in SCHEMES:
        open_store(url)  # raises the InvalidStoreURLError that names the problem
        raise InvalidStoreURLError(str(url), "no async store for this scheme")  # pragma: no cover
    blocking = await asyncio.to_thread(open_store, url, **options)
    if scheme == "memory":
        from histoire.store.memory import MemoryEventStore
        from histoire.store.memory_async import AsyncMemoryEventStore

        assert isinstance(blocking, MemoryEventStore)
        return AsyncMemoryEventStore(blocking=blocking)
    from histoire.store.sqlite.async_store import AsyncSQLiteEventStore
    from histoire.store.sqlite.store import SQLiteEventStore

    assert isinstance(blocking, SQLiteEventStore)
    return AsyncSQLiteEventStore.wrapping(blocking)
