"""Shared fixtures: one store factory parametrised over every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from histoire import EventStore, open_store

from ._services import postgres_url, require_services

BACKENDS = ["memory", "sqlite", "postgres"]

StoreFactory = Callable[[], EventStore]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens fresh, empty stores of the backend under test; closes them afterwards.

    Every store a test opens with it shares one database, so that a test can
    open a second handle on the same store (`same=True`).
    """
    opened: list[EventStore] = []
    if backend == "memory":
        shared = open_store("memory://")

        def make() -> EventStore:
            return shared

    elif backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"

        def make() -> EventStore:
            store = open_store(url)
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

        def make() -> EventStore:
            store = open_store(url, schema=schema)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> EventStore:
    """A fresh, empty store of the backend under test."""
    return store_factory()
