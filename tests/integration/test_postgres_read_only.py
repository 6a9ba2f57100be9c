"""PostgreSQL read-only stores: the server refuses their writes too, not only the API."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from histoire import ReadOnlyStoreError, StoreError, StoreNotFoundError
from histoire.store.postgres import PostgresEventStore
from histoire.testing.contract import new_events

from .._services import postgres_url_or_skip

pytestmark = pytest.mark.postgres

Opener = Callable[..., PostgresEventStore]


@pytest.fixture
def url() -> str:
    return postgres_url_or_skip()


def test_a_read_only_store_never_creates_its_schema(url: str, schema: str) -> None:
    """read_only=True on a schema that does not exist raises StoreNotFoundError."""
    with pytest.raises(StoreNotFoundError):
        PostgresEventStore(url, schema=schema, read_only=True)


def test_the_sessions_of_a_read_only_store_are_read_only(open_pg: Opener) -> None:
    """Even a write that bypasses the API is refused by the server on a read-only store's
    sessions; its reads, and its waits on the log, work."""
    open_pg().append("account-1", new_events(2))
    reader = open_pg(read_only=True)
    with pytest.raises(ReadOnlyStoreError):
        reader.append("account-1", new_events(1))

    def insert(conn: psycopg.Connection[object]) -> None:
        conn.execute(f"CREATE TABLE {reader.schema}.intruder (x int)")

    with pytest.raises(StoreError, match="read-only transaction"):
        reader._db.run("writing behind the API", insert)
    assert reader.stream_version("account-1") == 2
    assert reader.wait_for_events(reader.head(), timeout=0.1) is False
