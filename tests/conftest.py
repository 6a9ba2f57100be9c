"""Shared fixtures: one store factory parametrised over every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from histoire import EventStore, MemoryEventStore, open_store
from histoire.testing.contract import StoreFactory

from ._services import postgres_url, require_services
from .async_backends import Opener, async_opener

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens fresh, empty stores of the backend under test; closes them afterwards.

    Every store a test opens with it shares one database, so that a test can
    open a second handle on the same store; keyword options go to the store.
    """
    opened: list[EventStore] = []
    if backend == "memory":
        shared = MemoryEventStore()

        def make(**options: Any) -> EventStore:
            return shared.reopen(**options) if options else shared

    elif backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"

        def make(**options: Any) -> EventStore:
            store = open_store(url, **options)
            opened.append(store)
            return store

    else:
        url = postgres_url()
        if url is None:
            message = "PostgreSQL is not reachable (see tests/_services.py)"
            if require_services():
                pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
            pytest.skip(message)
        from ._services import fresh_postgres_schema

        schema = fresh_postgres_schema(url)

        def make(**options: Any) -> EventStore:
            store = open_store(url, schema=schema, **options)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> EventStore:
    """A fresh, empty store of the backend under test."""
    return store_factory()


@pytest.fixture
def async_store_opener(backend: str, tmp_path: Path) -> Opener:
    """Opens async stores of the backend under test, all on one fresh database.

    Call it inside the test's event loop (`async with opened(async_store_opener)`).
    """
    return async_opener(backend, tmp_path)
