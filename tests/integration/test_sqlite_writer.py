"""SQLite's write statements: a lone append in one autocommit statement, the rows as stored."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import NO_STREAM, ConcurrencyError, NewEvent, StoreUnavailableError
from histoire.store.sqlite import SQLiteEventStore, db_config
from histoire.testing.contract import new_event, new_events


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore(tmp_path / "events.db") as store:
        yield store


def statements(store: SQLiteEventStore) -> list[str]:
    """The statements the store's writer connection runs from now on (a live list; the trace
    shows a statement again each time it enters a trigger)."""
    seen: list[str] = []
    store._writer.set_trace_callback(seen.append)
    return seen


def stored_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT position, stream_id, version, typeof(metadata), metadata, "
            "typeof(causation_id), causation_id, typeof(correlation_id) "
            "FROM histoire_events ORDER BY position"
        ).fetchall()


@pytest.mark.parametrize("expected", [NO_STREAM, 0, 2], ids=["no-stream", "zero", "exact"])
def test_a_lone_append_is_one_statement(store: SQLiteEventStore, expected: object) -> None:
    """An append nobody else commits with, creating its stream or at an exact version, is one
    INSERT in autocommit mode: no BEGIN, no COMMIT."""
    if expected == 2:
        store.append("account-1", new_events(2))
    seen = statements(store)
    result = store.append("account-1", new_events(3), expected)  # type: ignore[arg-type]
    assert len(set(seen)) == 1 and seen[0].startswith("INSERT INTO histoire_events"), seen
    first = 1 if expected != 2 else 3
    assert (result.first_version, result.last_version) == (first, first + 2)
    assert [e.position for e in result.events] == [first, first + 1, first + 2]
    assert list(store.read_stream("account-1"))[-3:] == list(result.events)


@pytest.mark.parametrize("expected", [0, 1, 3, 5])
def test_a_lone_append_at_a_wrong_version_writes_nothing_and_says_why(
    store: SQLiteEventStore, expected: int
) -> None:
    """The one statement inserts nothing (a version too high) or is refused (too low): the
    conflict is then reported with the stream's actual version, as ever."""
    store.append("account-1", new_events(2))
    with pytest.raises(ConcurrencyError) as raised:
        store.append("account-1", new_events(2), expected)
    assert (raised.value.expected, raised.value.actual) == (expected, 2)
    assert store.stream_version("account-1") == 2
    assert len(list(store.read_log())) == 2


@pytest.mark.parametrize("expected", [0, 1, 3, 5])
def test_a_version_read_leaves_out_the_guard_and_still_refuses_wrong_versions(
    store: SQLiteEventStore, expected: int
) -> None:
    """Once a read has seen the stream at version 2, an append at version 2 is a plain INSERT
    (no WHERE EXISTS); at any other version it still writes nothing and reports the conflict."""
    store.append("account-1", new_events(2))
    assert [row[0] for row in store.read_payloads("account-1")] == [1, 2]
    seen = statements(store)
    if expected == 2:
        store.append("account-1", new_events(1), 2)
        assert "WHERE EXISTS" not in seen[0]
    with pytest.raises(ConcurrencyError) as raised:
        store.append("account-1", new_events(2), expected)
    actual = 3 if expected == 2 else 2
    assert (raised.value.expected, raised.value.actual) == (expected, actual)
    assert store.stream_version("account-1") == actual
    assert [e.version for e in store.read_stream("account-1")] == list(range(1, actual + 1))


def test_an_append_at_a_version_read_gets_the_plain_insert(store: SQLiteEventStore) -> None:
    """A command's load reads its stream, then appends at the version read: without the
    guard of a version it has just seen, and at the right place."""
    store.append("account-1", new_events(2))
    list(store.read_payloads("account-1"))
    seen = statements(store)
    result = store.append("account-1", new_events(2), 2)
    assert len(set(seen)) == 1 and "WHERE EXISTS" not in seen[0], seen
    assert (result.first_version, result.last_version) == (3, 4)
    assert [e.version for e in store.read_stream("account-1")] == [1, 2, 3, 4]


def test_a_version_read_inside_a_transaction_is_not_taken_for_committed(
    store: SQLiteEventStore,
) -> None:
    """A read inside `transaction()` sees the transaction's own rows, which a rollback takes
    back: an append at such a version still checks that the stream has it, and leaves no
    hole in the stream's versions."""
    store.append("account-1", new_events(1))
    columns = (
        "event_id, stream_id, category, version, type, schema_version, data, metadata, recorded_at"
    )
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute(
            f"INSERT INTO histoire_events ({columns}) "
            "VALUES (randomblob(16), 'account-1', 'account', 2, 't', 1, X'7B7D', X'7B7D', 0)"
        )
        assert [row[0] for row in store.read_payloads("account-1")] == [1, 2]
        raise RuntimeError("roll back")
    with pytest.raises(ConcurrencyError) as raised:
        store.append("account-1", new_events(1), 2)
    assert raised.value.actual == 1
    assert [e.version for e in store.read_stream("account-1")] == [1]


def test_rows_store_empty_metadata_and_missing_ids_as_histoire_always_did(
    store: SQLiteEventStore,
) -> None:
    """Metadata left empty is stored as the JSON {} and a missing causation or correlation
    id as NULL, whether an event has them or not."""
    cause = uuid.uuid4()
    plain = new_event()
    full = NewEvent(
        event_id=uuid.uuid4(),
        type="t",
        schema_version=1,
        data=b"{}",
        metadata={"user": "ada"},
        causation_id=cause,
        correlation_id=cause,
    )
    store.append("account-1", [plain, full])
    rows = stored_rows(store.path)
    assert rows[0][3:] == ("blob", b"{}", "null", None, "null")
    assert rows[1][3:] == ("blob", b'{"user":"ada"}', "blob", cause.bytes, "blob")
    [first, second] = store.read_stream("account-1")
    assert (first.metadata, first.causation_id, first.correlation_id) == ({}, None, None)
    assert (second.metadata, second.causation_id) == ({"user": "ada"}, cause)


@pytest.mark.parametrize("expected", [NO_STREAM, 2], ids=["new-stream", "exact-unread"])
def test_a_lone_append_without_metadata_or_ids_stores_empty_metadata_and_nulls(
    store: SQLiteEventStore, expected: object
) -> None:
    """An append none of whose events has metadata, a causation or a correlation id stores
    {} and NULLs (the SQL's constants), at the right versions and positions, guarded or not."""
    stream = "account-1" if expected is NO_STREAM else "account-2"
    if expected == 2:
        store.append(stream, new_events(2))
    result = store.append(stream, new_events(3), expected)  # type: ignore[arg-type]
    rows = stored_rows(store.path)[-3:]
    assert all(row[3:] == ("blob", b"{}", "null", None, "null") for row in rows), rows
    first = 1 if expected is NO_STREAM else 3
    assert [row[2] for row in rows] == [first, first + 1, first + 2]
    assert [row[0] for row in rows] == [e.position for e in result.events]
    assert list(store.read_stream(stream))[-3:] == list(result.events)


def test_a_lone_append_waits_for_the_lock_then_writes(store: SQLiteEventStore) -> None:
    """A lone append that finds the file locked by another connection waits its turn, then
    its one statement goes through."""
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(store.append("account-1", new_events(1))))
    thread.start()
    time.sleep(0.2)
    assert not done  # still waiting for the lock
    blocker.execute("COMMIT")
    blocker.close()
    thread.join(timeout=30)
    assert [r.version for r in done] == [1]  # type: ignore[attr-defined]


def test_a_lone_append_gives_up_after_lock_timeout(tmp_path: Path) -> None:
    """A lone append whose file stays locked fails with StoreUnavailableError, writing nothing."""
    with SQLiteEventStore(tmp_path / "events.db", lock_timeout=0.2) as store:
        blocker = sqlite3.connect(store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailableError, match="lock_timeout"):
                store.append("account-1", new_events(1), NO_STREAM)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.stream_version("account-1") == 0


def test_the_writer_skips_the_triggers_where_the_driver_can(store: SQLiteEventStore) -> None:
    """Where it can, the writer's own connection runs without triggers (its plain INSERTs
    abort on any conflict), while any other connection keeps them: a foreign INSERT OR
    REPLACE over a stored event is refused either way."""
    result = store.append("account-1", new_events(1))
    getconfig = getattr(store._writer, "getconfig", None)
    if getconfig is not None:
        assert getconfig(sqlite3.SQLITE_DBCONFIG_ENABLE_TRIGGER) is False  # type: ignore[attr-defined]
    foreign = sqlite3.connect(store.path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="immutable"):
            foreign.execute(
                "INSERT OR REPLACE INTO histoire_events (position, event_id, stream_id, category, "
                "version, type, schema_version, data, metadata, recorded_at) "
                "VALUES (?, ?, 'account-1', 'account', 1, 'forged', 1, X'7B7D', X'7B7D', 0)",
                (result.first_position, uuid.uuid4().bytes),
            )
    finally:
        foreign.close()
    assert list(store.read_stream("account-1")) == list(result.events)


def test_the_writer_runs_without_triggers_where_it_can(store: SQLiteEventStore) -> None:
    """Where the writer can turn triggers off (Python 3.12+, and CPython 3.11 on the usual
    platforms through ctypes), a trigger that refuses a row stops any other connection but
    not the writer; elsewhere the writer keeps the triggers."""
    if not hasattr(sqlite3.Connection, "setconfig") and not db_config.available():
        pytest.skip("this driver cannot turn triggers off: the writer keeps them")
    foreign = sqlite3.connect(store.path, isolation_level=None)
    try:
        foreign.execute(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON histoire_events "
            "WHEN NEW.type = 'test.Refused' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        )
        result = store.append("account-1", [new_event(type="test.Refused")], NO_STREAM)
        with pytest.raises(sqlite3.DatabaseError, match="refused by the test trigger"):
            foreign.execute(
                "INSERT INTO histoire_events (event_id, stream_id, category, version, type, "
                "schema_version, data, metadata, recorded_at) "
                "VALUES (?, 'account-1', 'account', 2, 'test.Refused', 1, X'7B7D', X'7B7D', 0)",
                (uuid.uuid4().bytes,),
            )
    finally:
        foreign.close()
    assert list(store.read_stream("account-1")) == list(result.events)


def test_a_lone_append_of_more_rows_than_one_insert_takes_is_whole(
    store: SQLiteEventStore,
) -> None:
    """An append of more events than one INSERT holds goes in several INSERTs of one
    transaction: every version and position, in order."""
    store.append("account-0", new_events(2))
    result = store.append("account-1", new_events(1_201), NO_STREAM)
    assert (result.first_version, result.last_version) == (1, 1_201)
    assert [e.position for e in result.events] == list(range(3, 1_204))
    assert [e.version for e in store.read_stream("account-1")] == list(range(1, 1_202))
