"""Fixtures shared by the PostgreSQL integration tests.

Each module provides its own `url` fixture (the shared server, or a private one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .._services import fresh_postgres_schema

if TYPE_CHECKING:
    from histoire.store.postgres import PostgresEventStore


@pytest.fixture
def schema(url: str) -> str:
    """A new, empty schema on the module's server."""
    return fresh_postgres_schema(url)


@pytest.fixture
def open_pg(url: str, schema: str) -> Iterator[Callable[..., PostgresEventStore]]:
    """Opens stores on the test's schema; closes them afterwards."""
    from histoire.store.postgres import PostgresEventStore

    opened: list[PostgresEventStore] = []

    def make(**options: Any) -> PostgresEventStore:
        store = PostgresEventStore(url, schema=schema, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
