"""Property: one column of one row set to any SQLite value behind histoire's back;
verify never crashes, and names the row when the value is not one histoire writes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import histoire
from histoire import open_store, validate_stream_id
from histoire.cli import cli
from histoire.examples.catalog import make_codec

from ..domains import two_bank_accounts

NO_UPDATE = (
    "CREATE TRIGGER histoire_events_no_update BEFORE UPDATE ON histoire_events "
    "BEGIN SELECT RAISE(ABORT, 'histoire: stored events are immutable (UPDATE refused)'); END"
)
COLUMNS = [
    "event_id",
    "stream_id",
    "category",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "causation_id",
    "correlation_id",
    "recorded_at",
]
NULLABLE = {"causation_id", "correlation_id"}
YEAR_2000 = 946_684_800 * 1_000_000

sqlite_values = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from(["", " account-1", "account-1", "{}", '{"owner": 1}', "[1]"])
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two accounts of several events each, written through histoire."""
    path = tmp_path_factory.mktemp("corrupt") / "base.db"
    store = open_store(f"sqlite:///{path}")
    two_bank_accounts(store)
    store.close()
    return path


def stored(path: Path, column: str, position: int) -> Any:
    """The value of `column` at `position`, as SQLite holds it."""
    with sqlite3.connect(path) as conn:
        value = conn.execute(
            f"SELECT {column} FROM histoire_events WHERE position = ?", (position,)
        ).fetchone()[0]
    conn.close()
    return value


def set_value(path: Path, column: str, position: int, value: Any) -> None:
    """Set `column` of the row at `position`, the update trigger dropped for the edit."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER histoire_events_no_update")
        conn.execute(
            f"UPDATE histoire_events SET {column} = ? WHERE position = ?", (value, position)
        )
        conn.execute(NO_UPDATE)
        conn.commit()
    except sqlite3.IntegrityError:  # NOT NULL, CHECK, UNIQUE: the database itself refused
        reject()
    finally:
        conn.close()


def malformed(column: str, value: Any, stream_id: Any) -> bool:
    """Whether `value` is not something histoire ever writes in `column` at that row."""
    if column in ("event_id", "causation_id", "correlation_id"):
        return not (isinstance(value, bytes) and len(value) == 16) and not (
            value is None and column in NULLABLE
        )
    if column == "stream_id":
        try:
            validate_stream_id(value)
        except histoire.InvalidStreamIdError:
            return True
        return False
    if column == "category":
        return not isinstance(stream_id, str) or value != stream_id.partition("-")[0]
    if column in ("version", "schema_version"):
        return type(value) is not int or value < 1
    if column == "type":
        return not (isinstance(value, str) and value)
    if column == "recorded_at":  # microseconds since 1970; before 2000 is a wrong clock
        return type(value) is not int or value < YEAR_2000
    if column in ("data", "metadata"):
        if not isinstance(value, str | bytes):
            return True
        try:
            decoded = json.loads(value)
        except ValueError:
            return True
        return column == "metadata" and not isinstance(decoded, dict)
    raise AssertionError(column)


@pytest.mark.slow
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    column=st.sampled_from(COLUMNS),
    position=st.integers(min_value=1, max_value=6),
    value=st.none() | sqlite_values,
)
def test_verify_names_any_corrupted_row_and_never_crashes(
    base: Path, tmp_path: Path, column: str, position: int, value: Any
) -> None:
    """Any SQLite value in any column of any row: no crash anywhere; a malformed one is named."""
    path = tmp_path / "edited.db"
    shutil.copyfile(base, path)
    before = stored(path, column, position)
    set_value(path, column, position, value)
    after = stored(path, column, position)
    if type(after) is type(before) and after == before:
        reject()  # SQLite's affinity turned the value into the one already there
    store = open_store(f"sqlite:///{path}", create=False)
    try:
        report = histoire.verify(store, make_codec())
    finally:
        store.close()
    stream_id = stored(path, "stream_id", position)
    if malformed(column, after, stream_id):
        assert any(d.position == position for d in report.defects), (after, report.defects)
    url = f"sqlite:///{path}"
    runner = CliRunner()
    for command in (["verify"], ["log"], ["log", "--json"], ["streams"], ["events", "account-1"]):
        result = runner.invoke(cli, ["--store", url, *command], catch_exceptions=False)
        assert "unexpected" not in result.stderr, (command, result.stderr)
        assert result.exit_code in (0, 1), (command, result.stderr)
