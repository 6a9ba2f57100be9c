"""Opening async stores of each backend for tests: fresh databases, like conftest's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from histoire.store.async_protocol import AsyncEventStore

from ._services import fresh_postgres_schema, postgres_url, require_services

Opener = Callable[..., Awaitable[AsyncEventStore] | AsyncEventStore]


def async_opener(backend: str, tmp_path: Path) -> Opener:
    """A function of store options that opens the same fresh database of `backend` each call."""
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
