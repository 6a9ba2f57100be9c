"""`histoire verify` on sound and on deliberately damaged stores."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from histoire import CommandHandler, NewEvent, open_store
from histoire.examples import bank

from .conftest import one_line_error

URL = "sqlite:///bank.db"


@pytest.fixture
def bank_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small sound store: one account with four events, one of them a v1 deposit."""
    monkeypatch.chdir(tmp_path)
    store = open_store(URL)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    handler.handle("account-1", bank.Deposit(amount_cents=500))
    old = NewEvent(
        event_id=uuid.uuid4(), type="bank.Deposited", schema_version=1, data=b'{"amount": 1.5}'
    )
    store.append("account-1", [old], expected_version=2)
    handler.handle("account-1", bank.Withdraw(amount_cents=100))
    store.close()
    return tmp_path / "bank.db"


def tamper(path: Path, *statements: str) -> None:
    """Run raw SQL on the file, as someone bypassing histoire would."""
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_a_sound_store_passes(histoire: Any, bank_file: Path) -> None:
    """A store written through histoire verifies clean: exit 0 and a short summary."""
    run = histoire("--store", URL, "verify")
    assert run.code == 0, run.stdout
    assert "1 streams, 4 events (positions 1..4)" in run.stdout
    assert "4 events decoded to their class, 1 upcast" in run.stdout


def test_a_corrupted_row_and_a_dropped_trigger_are_named(histoire: Any, bank_file: Path) -> None:
    """Invalid JSON in a row and a missing immutability trigger: exit 1, each defect named."""
    tamper(
        bank_file,
        "DROP TRIGGER histoire_events_no_update",
        "UPDATE histoire_events SET data = '{not json' WHERE position = 2",
    )
    run = histoire("--store", URL, "verify")
    assert run.code == 1
    assert "immutability trigger histoire_events_no_update is missing" in run.stdout
    assert "stream account-1, version 2, position 2: bank.Deposited: data is not valid JSON" in (
        " ".join(run.stdout.split())
    )
    assert "2 defects" in one_line_error(run)


def test_a_payload_that_no_longer_fits_its_class_is_a_defect(
    histoire: Any, bank_file: Path
) -> None:
    """Valid JSON that does not decode to its event class (after upcasting) is reported."""
    tamper(
        bank_file,
        "DROP TRIGGER histoire_events_no_update",
        """UPDATE histoire_events SET data = '{"amount": "lots"}' WHERE position = 3""",
    )
    run = histoire("--store", URL, "verify", "--json")
    assert run.code == 1
    defects = run.json_lines()[0]["defects"]
    located = [(d["stream_id"], d["version"], d["position"]) for d in defects]
    assert ("account-1", 3, 3) in located
    assert any("upcast" in d["problem"] for d in defects)


def test_broken_metadata_is_a_defect(histoire: Any, bank_file: Path) -> None:
    """Metadata that is not a JSON object is reported with its place."""
    tamper(
        bank_file,
        "DROP TRIGGER histoire_events_no_update",
        "UPDATE histoire_events SET metadata = 'who?' WHERE position = 4",
    )
    run = histoire("--store", URL, "verify", "--json")
    assert run.code == 1
    defects = run.json_lines()[0]["defects"]
    assert [(d["version"], d["position"]) for d in defects if "metadata" in d["problem"]] == [
        (4, 4)
    ]


def test_a_hole_in_the_versions_is_a_defect(histoire: Any, bank_file: Path) -> None:
    """An event inserted behind histoire's back at version 6 of a 4-event stream is reported."""
    tamper(
        bank_file,
        "INSERT INTO histoire_events (position, event_id, stream_id, category, version, type, "
        "schema_version, data, metadata, recorded_at) VALUES (5, randomblob(16), 'account-1', "
        "'account', 6, 'bank.Withdrawn', 1, '{\"amount_cents\": 1}', '{}', 0)",
    )
    run = histoire("--store", URL, "verify")
    assert run.code == 1
    flat = " ".join(run.stdout.split())
    assert "stream account-1, version 6, position 5: version 6 where 5 was expected" in flat


def test_unknown_types_are_reported_as_unknown_not_corrupt(histoire: Any, bank_file: Path) -> None:
    """Events of types no shipped example knows are checked as JSON only."""
    store = open_store(URL)
    other = NewEvent(
        event_id=uuid.uuid4(), type="shop.OrderPlaced", schema_version=3, data=b'{"id": 1}'
    )
    store.append("order-9", [other])
    store.close()
    run = histoire("--store", URL, "verify")
    assert run.code == 0, run.stdout
    assert "shop.OrderPlaced (1)" in run.stdout
    report = histoire("--store", URL, "verify", "--json").json_lines()[0]
    assert report["unknown_types"] == {"shop.OrderPlaced": 1}


def test_read_commands_show_a_corrupted_row_instead_of_failing(
    histoire: Any, bank_file: Path
) -> None:
    """`events` and `log` still print a row whose data is not JSON, marked as such."""
    tamper(
        bank_file,
        "DROP TRIGGER histoire_events_no_update",
        "UPDATE histoire_events SET data = '{not json' WHERE position = 2",
    )
    events = histoire("--store", URL, "events", "account-1", "--json")
    assert events.code == 0
    broken = events.json_lines()[1]
    assert broken["data"] == "{not json"
    assert "not valid JSON" in broken["data_error"]
    log = histoire("--store", URL, "log")
    assert log.code == 0
    assert "{not json (not JSON)" in " ".join(log.stdout.split())


def test_verify_on_a_memory_store_is_clean(histoire: Any) -> None:
    """An empty memory store has nothing wrong."""
    run = histoire("--store", "memory://", "verify")
    assert run.code == 0
    assert "0 streams, 0 events (no events)" in run.stdout
