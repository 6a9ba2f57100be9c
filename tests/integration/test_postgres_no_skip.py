"""THE NO-SKIP TEST: a follower of the log misses nothing while 8 processes write.

Writers commit in any order, so a transaction can take low positions and
commit after one with higher positions. A follower that resumed from "position
> last seen" would skip those events; the PostgreSQL store's (xid, position)
checkpoint below the oldest running transaction must not.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from histoire import NO_STREAM, START, NewEvent, RecordedEvent
from histoire.app.follower import Follower
from histoire.store.postgres import PostgresEventStore
from histoire.store.postgres.connect import adapters
from histoire.store.postgres.sql import append_params, statements

from .._services import fresh_postgres_schema, postgres_url_or_skip, settled_head

pytestmark = pytest.mark.postgres

WRITERS = 8
SECONDS = 4.0
STREAMS = [f"{category}-{n}" for category in ("account", "cart", "order") for n in range(12)]


def write_for_a_while(url: str, schema: str, seed: int, seconds: float) -> list[str]:
    """Append 1 to 20 events at a time to random streams; the ids of every acknowledged event."""
    rng = random.Random(seed)
    store = PostgresEventStore(url, schema=schema, pool_min=1, pool_max=1)
    written: list[str] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            events = [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type=rng.choice(("test.Opened", "test.Changed")),
                    schema_version=1,
                    data=b'{"writer":%d}' % seed,
                )
                for _ in range(rng.randint(1, 20))
            ]
            store.append(rng.choice(STREAMS), events)
            written.extend(str(e.event_id) for e in events)
    finally:
        store.close()
    return written


@pytest.mark.slow
def test_a_follower_sees_the_whole_log_once_while_8_processes_write() -> None:
    """Every event id exactly once, in the order of a fresh full read, nothing missed."""
    url = postgres_url_or_skip(private=True)
    schema = fresh_postgres_schema(url)
    follower = PostgresEventStore(url, schema=schema)
    seen: list[RecordedEvent] = []
    waits = 0
    try:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
            futures = [
                pool.submit(write_for_a_while, url, schema, seed, SECONDS)
                for seed in range(WRITERS)
            ]
            checkpoint = START
            settle_until = None
            while True:
                finished = all(f.done() for f in futures)
                for event in follower.read_log(checkpoint, batch_size=200):
                    assert event.checkpoint > checkpoint, f"{event!r} at or before {checkpoint}"
                    seen.append(event)
                    checkpoint = event.checkpoint
                if finished:
                    # Once every writer has returned, all is committed; the last events may
                    # still hide behind some other transaction of the server for a moment.
                    settle_until = settle_until or time.monotonic() + 30
                    if not follower._head()[1] and follower.head() == checkpoint:
                        break
                    assert time.monotonic() < settle_until, "the log never settled"
                waits += 1
                follower.wait_for_events(checkpoint, timeout=0.1)
            written = [event_id for f in futures for event_id in f.result()]

        whole = list(follower.read_log())
        assert len(written) == len(set(written)) > WRITERS * 50
        seen_ids = [str(e.event_id) for e in seen]
        assert len(seen_ids) == len(set(seen_ids)), "an event was seen twice"
        assert set(seen_ids) == set(written), "an event was missed (or invented)"
        assert [e.event_id for e in seen] == [e.event_id for e in whole]
        assert [e.checkpoint for e in seen] == [e.checkpoint for e in whole]
        assert follower.integrity_problems() == []
        # How many events a "position > last seen" follower would have skipped.
        top, overtaken = 0, 0
        for event in seen:
            overtaken += event.position < top
            top = max(top, event.position)
        print(
            f"\n{len(written)} events by {WRITERS} processes, follower waited {waits} times; "
            f"{overtaken} events arrived after a higher position"
        )
    finally:
        follower.close()


# -- the mechanism, step by step ----------------------------------------------------

Opener = Callable[..., PostgresEventStore]


def new_events(count: int) -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type="test.Happened", schema_version=1, data=b"{}")
        for _ in range(count)
    ]


@pytest.fixture
def url() -> str:
    # These tests hold the horizon back on purpose: on a server of their own if possible.
    return postgres_url_or_skip(private=True)


def _append_in(conn: psycopg.Connection[Any], schema: str, stream: str, count: int) -> list[Any]:
    """Run append_events in the connection's current transaction, as the store does."""
    events = new_events(count)
    row = conn.execute(
        statements(schema).append, append_params(stream, events, NO_STREAM)
    ).fetchone()
    assert row is not None and row[1] is not None
    return list(row[1])


def test_writers_to_different_streams_do_not_wait_for_each_other(
    url: str, schema: str, open_pg: Opener
) -> None:
    """An append held open on one stream blocks that stream only; other streams go on."""
    store = open_pg(pool_max=4)
    store.append("warm-1", new_events(1))
    held = psycopg.connect(url, context=adapters())
    try:
        _append_in(held, schema, "account-1", 2)  # transaction left open
        started = time.monotonic()
        other = store.append("account-2", new_events(1))
        assert time.monotonic() - started < 2
        assert other.version == 1
        elsewhere = PostgresEventStore(url, schema=fresh_postgres_schema(url))
        try:
            started = time.monotonic()
            assert elsewhere.append("account-1", new_events(1)).version == 1
            assert time.monotonic() - started < 2, "another schema's account-1 is another stream"
        finally:
            elsewhere.close()

        same: list[Any] = []
        thread = threading.Thread(
            target=lambda: same.append(store.append("account-1", new_events(1)))
        )
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "an append to the held stream should wait for its lock"
        waiting = held.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
        ).fetchone()
        assert waiting is not None and waiting[0] >= 1
        held.commit()
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert same[0].first_version == 3  # after the two events of the held transaction
    finally:
        held.close()


def test_a_late_commit_with_lower_positions_is_not_skipped(
    url: str, schema: str, open_pg: Opener
) -> None:
    """Events of a transaction that took low positions and commits late reach the follower.

    A reader resuming from "position > last seen" would skip them; reading below the
    oldest running transaction in (xid, position) order does not.
    """
    store = open_pg()
    store.append("warm-1", new_events(1))
    before = settled_head(store)
    held = psycopg.connect(url, context=adapters())
    try:
        low = _append_in(held, schema, "account-1", 2)
        later = store.append("account-2", new_events(1))
        assert later.first_position > max(low)
        assert store.head() == before, "a committed event above the horizon must stay hidden"
        assert list(store.read_log(before)) == []
        held.commit()
    finally:
        held.close()
    head = settled_head(store)
    seen = list(store.read_log(before))
    assert [e.position for e in seen] == [*low, later.first_position]
    assert [e.checkpoint for e in seen] == sorted(e.checkpoint for e in seen)
    assert head == seen[-1].checkpoint


def test_a_live_follower_woken_by_a_late_commit_gets_the_earlier_transaction_first(
    url: str, schema: str, open_pg: Opener
) -> None:
    """A live follower at the head, woken by an append while an older transaction holding
    lower positions is open, waits for that one and gives both once, in log order."""
    store = open_pg()
    store.append("warm-1", new_events(1))
    follower = Follower(store, batch_size=10)
    stop = threading.Event()
    got: list[RecordedEvent] = []
    first = threading.Event()

    def follow() -> None:
        for batch in follower.batches(START, live=True, stop=stop, idle_wait=0.05):
            got.extend(batch.events)
            first.set()

    thread = threading.Thread(target=follow)
    thread.start()
    held = psycopg.connect(url, context=adapters())
    try:
        assert first.wait(10)
        store.append("warm-2", new_events(1))  # the follower reads it, then waits at the head
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        low = _append_in(held, schema, "account-1", 2)
        later = store.append("account-2", new_events(1))  # its NOTIFY wakes the follower
        time.sleep(0.3)
        assert len(got) == 2, "an event above the horizon must not be given yet"
        held.commit()
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        held.close()
        stop.set()
        thread.join(10)
    assert [e.position for e in got[2:]] == [*low, later.first_position]
    assert [e.checkpoint for e in got] == sorted(e.checkpoint for e in got)
    assert len({e.event_id for e in got}) == 5
