"""histoire.verify on PostgreSQL: amcheck when installed, and rows edited behind histoire's back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import histoire
from histoire import NewEvent
from histoire.store.postgres import PostgresEventStore

from .._services import postgres_url_or_skip

pytestmark = pytest.mark.postgres

Opener = Callable[..., PostgresEventStore]


@pytest.fixture
def url() -> str:
    """The shared server."""
    return postgres_url_or_skip()


def event(data: bytes = b'{"n": 1}') -> NewEvent:
    """A shop.Sold event."""
    return NewEvent(event_id=uuid.uuid4(), type="shop.Sold", schema_version=1, data=data)


def tamper(url: str, schema: str, assignment: str, position: int) -> None:
    """Edit one row with the update trigger disabled for the edit, as a superuser could."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(f'ALTER TABLE "{schema}".events DISABLE TRIGGER events_no_update')
        conn.execute(f'UPDATE "{schema}".events SET {assignment} WHERE position = %s', (position,))
        conn.execute(f'ALTER TABLE "{schema}".events ENABLE TRIGGER events_no_update')


def test_a_sound_store_passes_and_says_what_the_indexes_got(open_pg: Opener) -> None:
    """A sound schema verifies clean; amcheck ran, or the report says why not."""
    store = open_pg()
    store.append("item-1", [event(), event()])
    report = histoire.verify(store)
    assert report.ok, report.defects
    assert report.events == 2
    assert "immutability triggers" in report.checks
    ran = "amcheck bt_index_check" in report.checks
    skipped = any("amcheck" in note for note in report.skipped)
    assert ran != skipped


@pytest.mark.parametrize(
    ("assignment", "says"),
    [
        ("category = 'other'", "category is 'other' (text), not 'item'"),
        ("type = ''", "type is '' (text)"),
        ("stream_id = ''", "stream_id is '' (text)"),
        ("type = repeat('t', 201)", "not a type name histoire writes: it is 201 characters"),
    ],
)
def test_an_edited_row_is_named(
    open_pg: Opener, url: str, schema: str, assignment: str, says: str
) -> None:
    """A changed category, an empty type or stream id: a defect at that position."""
    store = open_pg()
    store.append("item-1", [event(), event()])
    second = list(store.read_stream("item-1"))[1].position
    tamper(url, schema, assignment, second)
    report = histoire.verify(store)
    assert not report.ok
    assert any(d.position == second and says in d.problem for d in report.defects), report.defects


@pytest.fixture
def amcheck_url(url: str) -> Iterator[str]:
    """A new database with amcheck installed (skip if the server or role cannot)."""
    name = f"histoire_amcheck_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.skip(f"cannot create a database for amcheck: {exc}")
    target = psycopg.conninfo.make_conninfo(url, dbname=name)
    try:
        try:
            with psycopg.connect(target, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION amcheck")
        except psycopg.Error as exc:
            pytest.skip(f"amcheck is not available: {exc}")
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_amcheck_checks_every_index_when_installed(amcheck_url: str) -> None:
    """With amcheck installed, verify runs bt_index_check (heapallindexed with full=True)."""
    store = PostgresEventStore(amcheck_url, schema="shop")
    try:
        store.append("item-1", [event() for _ in range(20)])
        quick = histoire.verify(store)
        full = histoire.verify(store, full=True)
    finally:
        store.close()
    assert quick.ok, quick.defects
    assert "amcheck bt_index_check" in quick.checks
    assert full.ok, full.defects
    assert "amcheck bt_index_check (heapallindexed)" in full.checks
