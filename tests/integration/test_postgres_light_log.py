"""PostgreSQL's log read without the envelope (`read_log_light`): the envelope comes on first use.

A projection's catch-up reads the log this way (`Follower(envelope=False)`); every field
must be the stored one all the same, read on a second pooled connection while the
handler's transaction holds one, or on a connection of its own once the store is closed.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable

import pytest

from histoire import NewEvent, StoreError
from histoire.codec.ids import new_event_id
from histoire.core.recorded import Unread
from histoire.store.postgres import PostgresEventStore

from .._services import postgres_url_or_skip

pytestmark = pytest.mark.postgres

Opener = Callable[..., PostgresEventStore]


@pytest.fixture
def url() -> str:
    return postgres_url_or_skip()


def event(n: int) -> NewEvent:
    return NewEvent(
        event_id=new_event_id(),
        type="thing.Happened" if n % 2 else "thing.Seen",
        schema_version=1,
        data=b'{"n":%d}' % n,
        metadata={"n": n, "who": "ada"},
        causation_id=uuid.uuid4() if n % 2 else None,
        correlation_id=uuid.uuid4(),
    )


def test_light_records_are_equal_to_whole_ones_field_by_field(open_pg: Opener) -> None:
    """Each field of a light record, envelope included, is the stored one; filters,
    batches and limits are those of read_log."""
    store = open_pg()
    for n in range(700):
        store.append(f"{'thing' if n % 3 else 'other'}-{n % 7}", [event(n)])
    for kwargs in (
        {"categories": ["thing"], "batch_size": 250},
        {"types": ["thing.Seen"], "batch_size": 100},
        {"limit": 333, "batch_size": 1000},
        {},
    ):
        whole = list(store.read_log(**kwargs))  # type: ignore[arg-type]
        light = list(store.read_log_light(**kwargs))  # type: ignore[arg-type]
        assert light and isinstance(light[0]._event_id, Unread)
        assert [(r.position, r.commit, r.checkpoint) for r in light] == [
            (r.position, r.commit, r.checkpoint) for r in whole
        ]
        assert light == whole  # every field compared, the envelope read on the way
        assert [r.metadata for r in light] == [r.metadata for r in whole]


def test_the_envelope_is_read_while_a_transaction_holds_a_connection(open_pg: Opener) -> None:
    """A handler asking for an event's id inside its batch's transaction (a pool of two:
    the transaction holds one) gets it; with a pool of one, events are read whole."""
    for size in (2, 1):
        store = open_pg(pool_min=1, pool_max=size, pool_timeout=5)
        appended = store.append(f"thing-{size}", [event(1), event(2)]).events
        records = list(store.read_log_light(categories=["thing"]))  # type: ignore[attr-defined]
        with store.transaction() as tx:
            tx.execute("SELECT 1")
            assert [r.event_id for r in records[-2:]] == [e.event_id for e in appended]
            assert records[-1].metadata == {"n": 2, "who": "ada"}


def test_the_envelope_never_waits_for_connections_its_caller_holds(open_pg: Opener) -> None:
    """Every pooled connection held by the caller (two projections' transactions in one
    thread, a pool of two): the envelope is read on a connection of its own, at once
    rather than after the pool's timeout."""
    store = open_pg(pool_min=1, pool_max=2, pool_timeout=30)
    appended = store.append("thing-1", [event(1)]).events
    (record,) = store.read_log_light()  # type: ignore[attr-defined]
    with store.transaction() as one, store.transaction() as two:
        one.execute("SELECT 1")
        two.execute("SELECT 1")
        started = time.monotonic()
        assert record.event_id == appended[0].event_id
        assert record.metadata == {"n": 1, "who": "ada"}
        assert time.monotonic() - started < 10


def test_an_envelope_asked_for_after_the_store_closed_is_still_read(open_pg: Opener) -> None:
    """A light record kept after its store is closed reads its envelope through a connection
    of its own; once that cannot connect, StoreError, not a crash."""
    store = open_pg()
    appended = store.append("thing-1", [event(1), event(2)]).events
    kept, other = store.read_log_light(batch_size=1)  # type: ignore[attr-defined]
    store.close()
    assert kept.event_id == appended[0].event_id and kept.metadata == appended[0].metadata
    assert kept.recorded_at == appended[0].recorded_at
    gone = "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2"  # no server there
    store._db.location = dataclasses.replace(store._db.location, conninfo=gone)
    with pytest.raises(StoreError):
        other.event_id  # noqa: B018
