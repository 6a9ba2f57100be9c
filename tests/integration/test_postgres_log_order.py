"""PostgreSQL: in the global log, each stream's events come in version order.

The log is ordered by (xid, position), and a transaction's id is taken at its
first write. Up to schema version 1 an append took it before winning the
stream's lock, so an older transaction (one that wrote elsewhere first, or one
that merely reached a busy stream first) could win the lock after a younger
one, take the next versions, and still sort before the younger one's.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from histoire import ANY, NO_STREAM, START, ConcurrencyError, NewEvent, RecordedEvent
from histoire.cli import cli
from histoire.core.errors import SchemaError
from histoire.store.postgres import PostgresEventStore
from histoire.store.postgres.connect import adapters
from histoire.store.postgres.schema import apply_migrations, latest_version, parse_url
from histoire.store.postgres.sql import append_params, statements
from histoire.testing._contract.log_order import versions_by_stream

from .._services import postgres_url_or_skip, settled_head

pytestmark = pytest.mark.postgres

Opener = Callable[..., PostgresEventStore]


@pytest.fixture
def url() -> str:
    # These tests hold transactions open on purpose: on a server of their own if possible.
    return postgres_url_or_skip(private=True)


def new_events(count: int, type: str = "test.Happened") -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type=type, schema_version=1, data=b"{}")
        for _ in range(count)
    ]


def append_in(conn: psycopg.Connection[Any], schema: str, stream: str, count: int) -> None:
    """Run append_events in the connection's current transaction, as a user's SQL may."""
    conn.execute(statements(schema).append, append_params(stream, new_events(count), ANY))


def versions_in_log(events: list[RecordedEvent], stream_id: str) -> list[int]:
    return versions_by_stream(events).get(stream_id, [])


def test_each_stream_comes_in_version_order_after_interleaved_transactions(
    url: str, schema: str, open_pg: Opener
) -> None:
    """An older transaction that appends after a younger one to a stream is refused, whole.

    T1 appends to a-1 and stays open; T2 appends s-1 v2 and commits; T1 then
    appends to s-1. Had T1 taken v3 and committed, the log (by transaction id)
    would give s-1 v1, v3, v2. Retried from the start, T1 goes through.
    """
    store = open_pg()
    store.append("s-1", new_events(1))
    older = psycopg.connect(url, context=adapters())
    refused: list[psycopg.Error] = []
    try:
        append_in(older, schema, "a-1", 1)  # T1 takes its transaction id here
        younger = store.append("s-1", new_events(1))  # T2
        try:
            append_in(older, schema, "s-1", 1)
            older.commit()
        except psycopg.errors.SerializationFailure as exc:
            refused.append(exc)
            older.rollback()
            append_in(older, schema, "a-1", 1)  # the retry: a new transaction
            append_in(older, schema, "s-1", 1)
            older.commit()
    finally:
        older.close()
    settled_head(store)
    assert versions_in_log(list(store.read_log()), "s-1") == [1, 2, 3]
    assert versions_in_log(list(store.read_log(categories=["s"])), "s-1") == [1, 2, 3]
    assert versions_in_log(list(store.read_log(categories=["a", "s"])), "s-1") == [1, 2, 3]
    assert younger.first_version == 2
    assert [e.version for e in store.read_stream("a-1")] == [1], "the refused attempt wrote nothing"
    assert len(refused) == 1 and "s-1" in str(refused[0])
    assert store.integrity_problems() == []


# -- under contention: many processes, one busy stream ---------------------------------

WRITERS = 8
SECONDS = 2.0
BUSY = "busy-1"


def write_for_a_while(url: str, schema: str, writer: int, seconds: float) -> int:
    """Append with ANY to the busy stream and to this writer's own; the events appended."""
    store = PostgresEventStore(url, schema=schema, pool_min=1, pool_max=1)
    appended = 0
    try:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            stream = BUSY if n % 3 else f"own-{writer}"
            appended += len(store.append(stream, new_events(1 + n % 2)).events)
    finally:
        store.close()
    return appended


def follow(
    store: PostgresEventStore, done: Callable[[], bool], **filters: Any
) -> list[RecordedEvent]:
    """Read the log from checkpoint to checkpoint until `done()`, then to its settled end."""
    seen: list[RecordedEvent] = []
    checkpoint = START
    while True:
        finished = done()
        if finished:
            settled_head(store)  # every writer has committed: wait until nothing hides
        for event in store.read_log(checkpoint, batch_size=100, **filters):
            seen.append(event)
            checkpoint = event.checkpoint
        if finished:
            return seen
        store.wait_for_events(checkpoint, timeout=0.05)


@pytest.mark.slow
def test_followers_see_every_stream_in_version_order_while_8_processes_append(
    url: str, schema: str, open_pg: Opener
) -> None:
    """8 processes append with ANY to one busy stream; followers see 1..N per stream, once."""
    store = open_pg()
    store.append("warm-1", new_events(1))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
        futures = [
            pool.submit(write_for_a_while, url, schema, writer, SECONDS)
            for writer in range(WRITERS)
        ]

        def done() -> bool:
            return all(f.done() for f in futures)

        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            followers = {
                "all": threads.submit(follow, open_pg(), done),
                "busy": threads.submit(follow, open_pg(), done, categories=["busy"]),
            }
            logs = {name: f.result(timeout=60) for name, f in followers.items()}
        appended = sum(f.result() for f in futures)
    stored = {info.stream_id: info.version for info in store.list_streams()}
    assert stored[BUSY] > 100 and sum(stored.values()) == appended + 1
    for name, log in logs.items():
        wanted = {s: list(range(1, v + 1)) for s, v in stored.items() if name == "all" or s == BUSY}
        assert versions_by_stream(log) == wanted, f"{name}: a stream out of order, or incomplete"
    assert store.integrity_problems() == []


# -- upgrading a store of schema version 1 --------------------------------------------


def test_histoire_migrate_upgrades_a_version_1_store_and_records_each_streams_last_writer(
    url: str, schema: str, open_pg: Opener
) -> None:
    """A v1 store refuses to open unmigrated (SchemaError); `histoire migrate` upgrades it."""
    with psycopg.connect(url, autocommit=True, context=adapters()) as conn:
        assert apply_migrations(conn, parse_url(url, schema), up_to=1) == 1
        for stream in ("s-1", "s-2", "s-1"):
            append_in(conn, schema, stream, 2)  # autocommit: one transaction each
    with pytest.raises(SchemaError, match=r"at version 1, this histoire needs \d+; run .*migrate"):
        open_pg(create=False)

    run = CliRunner().invoke(cli, ["--store", f"{url}?schema={schema}", "migrate"])
    assert run.exit_code == 0, run.output
    assert "an older one: it is now up to date" in " ".join(run.output.split())

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT s.stream_id, s.last_xid = max(e.xid) FROM "{schema}".streams AS s '
            f'JOIN "{schema}".events AS e USING (stream_id) GROUP BY s.stream_id, s.last_xid '
            "ORDER BY 1"
        ).fetchall()
    assert rows == [("s-1", True), ("s-2", True)]
    store = open_pg(create=False)
    assert store.append("s-1", new_events(1)).first_version == 5
    settled_head(store)
    assert versions_in_log(list(store.read_log()), "s-1") == [1, 2, 3, 4, 5]
    assert store.integrity_problems() == []


def test_a_version_4_store_migrated_to_5_appends_to_new_and_existing_streams(
    url: str, schema: str, open_pg: Opener
) -> None:
    """Version 5 creates a NO_STREAM stream first: on a store upgraded from version 4, a new
    stream is created, and NO_STREAM on a stream that exists conflicts and writes nothing."""
    with psycopg.connect(url, autocommit=True, context=adapters()) as conn:
        assert apply_migrations(conn, parse_url(url, schema), up_to=4) == 4
        append_in(conn, schema, "s-1", 2)
    with psycopg.connect(url, autocommit=True, context=adapters()) as conn:
        assert apply_migrations(conn, parse_url(url, schema)) == latest_version()
    store = open_pg(create=False)
    with pytest.raises(ConcurrencyError) as raised:
        store.append("s-1", new_events(1), NO_STREAM)
    assert (raised.value.expected, raised.value.actual) == (NO_STREAM, 2)
    assert store.append("s-2", new_events(3), NO_STREAM).last_version == 3
    assert store.append("s-1", new_events(1), 2).first_version == 3
    settled_head(store)
    log = list(store.read_log())
    assert (versions_in_log(log, "s-1"), versions_in_log(log, "s-2")) == ([1, 2, 3], [1, 2, 3])
    assert store.integrity_problems() == []
