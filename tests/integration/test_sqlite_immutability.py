"""SQLite: stored events are immutable in the database itself, not only through the API."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import DuplicateEventError, open_store
from histoire.store.sqlite import SQLiteEventStore
from histoire.testing.contract import new_event, new_events


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    """A store file holding three events in two streams."""
    file = tmp_path / "events.db"
    store = open_store(f"sqlite:///{file}")
    store.append("account-1", new_events(2))
    store.append("account-2", [new_event(metadata={"user": "ada"})])
    store.close()
    yield file


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as someone bypassing histoire would open."""
    return sqlite3.connect(path, isolation_level=None)


def all_rows(path: Path) -> list[tuple[object, ...]]:
    with raw(path) as conn:
        return conn.execute("SELECT * FROM histoire_events ORDER BY position").fetchall()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE histoire_events SET data = X'7B7D' WHERE position = 1",
        "UPDATE histoire_events SET type = 'forged' WHERE stream_id = 'account-1'",
        "UPDATE histoire_events SET metadata = X'7B7D'",
        "UPDATE histoire_events SET version = version + 10 WHERE position = 3",
    ],
)
def test_a_raw_update_of_stored_events_fails(path: Path, statement: str) -> None:
    """UPDATE on histoire_events is refused by a trigger, and the rows stay as they were."""
    before = all_rows(path)
    conn = raw(path)
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        conn.execute(statement)
    conn.close()
    assert all_rows(path) == before


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM histoire_events WHERE position = 2",
        "DELETE FROM histoire_events",
        "DELETE FROM histoire_events WHERE stream_id = 'account-2'",
    ],
)
def test_a_raw_delete_of_stored_events_fails(path: Path, statement: str) -> None:
    """DELETE on histoire_events is refused by a trigger, and every row is still there."""
    before = all_rows(path)
    conn = raw(path)
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        conn.execute(statement)
    conn.close()
    assert all_rows(path) == before
    assert len(before) == 3


def test_a_refused_change_inside_a_transaction_leaves_nothing(path: Path) -> None:
    """A transaction that tries to change events cannot commit a change to them."""
    before = all_rows(path)
    conn = raw(path)
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE histoire_events SET type = 'forged'")
    conn.execute("COMMIT")
    conn.close()
    assert all_rows(path) == before


def test_a_raw_insert_or_replace_cannot_overwrite_an_event(path: Path) -> None:
    """INSERT OR REPLACE over a stored position is refused, and the event stays."""
    before = all_rows(path)
    forged = list(before[0])
    forged[7] = b'{"amount_cents":100000000}'
    conn = raw(path)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute(
            f"INSERT OR REPLACE INTO histoire_events VALUES ({','.join('?' * 12)})", forged
        )
    conn.close()
    assert all_rows(path) == before


def test_a_healthy_store_reports_no_integrity_problem(path: Path) -> None:
    """integrity_problems() is empty for a store only histoire wrote."""
    with SQLiteEventStore(path, create=False) as store:
        assert store.integrity_problems() == []


def test_a_dropped_trigger_is_reported(path: Path) -> None:
    """Someone dropping an immutability trigger shows in integrity_problems()."""
    with raw(path) as conn:
        conn.execute("DROP TRIGGER histoire_events_no_delete")
    with SQLiteEventStore(path, create=False) as store:
        problems = store.integrity_problems()
    assert len(problems) == 1
    assert "histoire_events_no_delete" in problems[0]


def test_the_api_has_no_way_to_change_an_event(path: Path) -> None:
    """Appending an event id again with other content is refused; the stored event stays."""
    with SQLiteEventStore(path) as store:
        [first, *_] = list(store.read_stream("account-1"))
        forged = new_event(event_id=first.event_id, data=b'{"forged":true}')
        with pytest.raises(DuplicateEventError, match="other content"):
            store.append("account-1", [forged])
        assert store.get_event(first.event_id) == first
        assert store.get_event(uuid.uuid4()) is None


def test_a_raw_insert_or_replace_cannot_move_an_event_id(path: Path) -> None:
    """INSERT OR REPLACE of a stored event id at a new place is refused, and the event stays."""
    before = all_rows(path)
    forged = list(before[0])
    forged[0] = max(row[0] for row in before) + 1  # a free position
    forged[4] = 999  # a free version
    conn = raw(path)
    with pytest.raises(sqlite3.DatabaseError, match="already stored"):
        conn.execute(
            f"INSERT OR REPLACE INTO histoire_events VALUES ({','.join('?' * 12)})", forged
        )
    conn.close()
    assert all_rows(path) == before
