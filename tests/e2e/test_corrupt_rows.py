"""Rows edited behind histoire's back: every command names the row, none crashes.

Each case edits one column of the event at position 2 (stream account-1,
version 2) of a small SQLite store with raw SQL, the immutability trigger
dropped for the edit and put back after it, as someone bypassing histoire would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from histoire import CommandHandler, open_store
from histoire.examples import bank

from .conftest import Run

URL = "sqlite:///bank.db"
NO_UPDATE = (
    "CREATE TRIGGER histoire_events_no_update BEFORE UPDATE ON histoire_events "
    "BEGIN SELECT RAISE(ABORT, 'histoire: stored events are immutable (UPDATE refused)'); END"
)

# (column = value, what verify says about it)
CORRUPTIONS = {
    "data float": ("data = 1.5", "data is 1.5 (real)"),
    "data negative integer": ("data = -3", "data is -3 (integer)"),
    "data positive integer": ("data = 3", "data is 3 (integer)"),
    "version text": ("version = 'two'", "version is 'two' (text)"),
    "version real": ("version = 2.5", "version is 2.5 (real)"),
    "schema_version text": ("schema_version = 'one'", "schema_version is 'one' (text)"),
    "recorded_at text": ("recorded_at = 'yesterday'", "recorded_at is 'yesterday' (text)"),
    "recorded_at out of range": (
        "recorded_at = 9223372036854775807",
        "recorded_at is 9223372036854775807 (integer)",
    ),
    "recorded_at before 2000": ("recorded_at = 12345", "recorded_at is 1970-01-01"),
    "event_id too short": ("event_id = X'0102'", "event_id is b'\\x01\\x02' (blob)"),
    "event_id text": ("event_id = 'hello'", "event_id is 'hello' (text)"),
    "causation_id too short": ("causation_id = X'01'", "causation_id is b'\\x01' (blob)"),
    "stream_id empty": ("stream_id = ''", "stream_id is '' (text)"),
    "stream_id blob": ("stream_id = X'41'", "stream_id is b'A' (blob)"),
    "category changed": ("category = 'other'", "category is 'other'"),
    "type empty": ("type = ''", "type is '' (text)"),
    "type blob": ("type = X'41'", "type is b'A' (blob)"),
    "metadata integer": ("metadata = 7", "metadata is 7 (integer)"),
}

DEEP = "CAST(printf('%.*c', 100000, '[') || printf('%.*c', 100000, ']') AS BLOB)"
"""A payload of 100,000 nested arrays: deeper than the JSON decoder follows."""


@pytest.fixture
def bank_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two accounts: account-1 (positions 1, 2, 4) and account-2 (position 3)."""
    monkeypatch.chdir(tmp_path)
    store = open_store(URL)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    handler.handle("account-1", bank.Deposit(amount_cents=500))
    handler.handle("account-2", bank.OpenAccount(owner="bob"))
    handler.handle("account-1", bank.Withdraw(amount_cents=100))
    store.close()
    return tmp_path / "bank.db"


def corrupt(path: Path, assignment: str) -> None:
    """Edit the event at position 2, the immutability trigger dropped and then restored."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("DROP TRIGGER histoire_events_no_update")
        connection.execute(f"UPDATE histoire_events SET {assignment} WHERE position = 2")
        connection.execute(NO_UPDATE)
        connection.commit()
    finally:
        connection.close()


def no_crash(run: Run) -> None:
    """The command did not report a defect of histoire, nor a usage error."""
    assert "unexpected" not in run.stderr, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.code in (0, 1), run.stderr


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_verify_names_the_edited_row(histoire: Any, bank_file: Path, case: str) -> None:
    """verify exits 1 with one defect at position 2 naming the field and its stored value."""
    assignment, says = CORRUPTIONS[case]
    corrupt(bank_file, assignment)
    run = histoire("--store", URL, "verify", "--json")
    no_crash(run)
    assert run.code == 1, run.stdout
    report = run.json_lines()[0]
    at_two = [d for d in report["defects"] if d["position"] == 2]
    assert at_two, report["defects"]
    assert any(says in d["problem"] for d in at_two), at_two
    # verify goes on after the bad row: the other stream and the later events are read.
    assert report["events"] == 4
    text = histoire("--store", URL, "verify")
    assert "position 2" in text.stdout
    assert "OK" not in text.stdout


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
@pytest.mark.parametrize(
    "command", [["events", "account-1"], ["log"], ["streams"], ["log", "--json"]]
)
def test_read_commands_name_the_edited_row(
    histoire: Any, bank_file: Path, case: str, command: list[str]
) -> None:
    """events, log and streams show the row with its problem, or fail naming it; never crash."""
    assignment, says = CORRUPTIONS[case]
    corrupt(bank_file, assignment)
    run = histoire("--store", URL, *command)
    no_crash(run)
    if run.code == 1:
        assert "position 2" in run.stderr, run.stderr
        assert says in run.stderr
        return
    # What the command shows of the row is marked; the category is not shown, the
    # listing shows no event, and a row moved to another stream is not in account-1.
    hidden = case == "category changed" or command == ["streams"]
    moved = case.startswith("stream_id") and command[0] == "events"
    if not (hidden or moved):
        assert "1 corrupt event (position 2): run histoire verify" in run.stderr


def test_a_payload_nested_too_deep_is_reported_not_a_crash(histoire: Any, bank_file: Path) -> None:
    """verify names it; events and log show it shortened and marked not JSON."""
    corrupt(bank_file, f"data = {DEEP}")
    run = histoire("--store", URL, "verify", "--json")
    no_crash(run)
    assert run.code == 1
    (defect,) = [d for d in run.json_lines()[0]["defects"] if d["position"] == 2]
    assert "recursion" in defect["problem"], defect
    for command in (["events", "account-1"], ["log"]):
        run = histoire("--store", URL, *command)
        no_crash(run)
        assert run.code == 0, run.stderr
        assert "(200,000 characters)" in run.stdout and "(not JSON)" in run.stdout
        assert len(run.stdout) < 5_000


def test_events_and_log_mark_the_corrupt_field(histoire: Any, bank_file: Path) -> None:
    """A corrupt timestamp is shown as stored and marked; --json lists the row's problems."""
    corrupt(bank_file, "recorded_at = 'yesterday'")
    for command in (["events", "account-1"], ["log"]):
        run = histoire("--store", URL, *command)
        assert run.code == 0, run.stderr
        assert "'yesterday' (corrupt)" in run.stdout
        assert "1 corrupt event (position 2): run histoire verify" in run.stderr
    rows = histoire("--store", URL, "log", "--json").json_lines()
    assert rows[1]["recorded_at"] == "yesterday"
    assert rows[1]["problems"] == [
        "recorded_at is 'yesterday' (text), not microseconds since 1970 (integer)"
    ]
    assert "problems" not in rows[0]


def test_streams_names_a_corrupt_row_it_cannot_show(histoire: Any, bank_file: Path) -> None:
    """A stream whose last event has a text version cannot be listed: the error names the row."""
    corrupt(bank_file, "version = 'two'")
    run = histoire("--store", URL, "streams")
    assert run.code == 1
    assert "position 2" in run.stderr
    assert "version is 'two' (text)" in run.stderr
