"""Opening async stores of each backend for tests: fresh databases, like conftest's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from histoire.store.async_protocol import AsyncEventStore

from ._services import fresh_postgres_schema, postgres_url, require_services

Opener = Callable[..., Awaitable[AsyncEventStore] | AsyncEventStore]


@contextlib.asynccontextmanager
async def opened(opener: Opener, **options: Any) -> AsyncIterator[AsyncEventStore]:
    """The store `opener` opens, closed on the way out."""
    store = opener(**options)
    if isinstance(store, Awaitable):
        store = await store
    try:
        yield store
    finally:
        await store.aclose()


def async_opener(backend: str, tmp_path: Path) -> Opener:
    """A function of store options that opens the same fresh database of `backend` each call."""
    if backend == "memory":
        from histoire.store.memory_async import AsyncMemoryEventStore

        first = AsyncMemoryEventStore()
        return lambda **options: first.reopen(**options)
    if backend == "sqlite":
        from histoire.store.sqlite.async_store import AsyncSQLiteEventStore

        path = tmp_path / "events.db"
        return lambda **options: AsyncSQLiteEventStore(path, **options)
    url = postgres_url()
    if url is None:
        message = "PostgreSQL is not reachable (see tests/_services.py)"
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    from histoire.store.postgres.async_store import AsyncPostgresEventStore

    schema = fresh_postgres_schema(url)

    def open_postgres(**options: Any) -> Awaitable[AsyncEventStore]:
        return AsyncPostgresEventStore.open(url, schema=schema, **options)

    return open_postgres


def run_on(opener: Opener, scenario: Callable[[AsyncEventStore], Awaitable[None]]) -> None:
    """Open a store with `opener` in a new event loop, run `scenario` on it, close it."""

    async def main() -> None:
        async with opened(opener) as store:
            await scenario(store)

    asyncio.run(main())
