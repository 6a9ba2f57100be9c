"""Errors: one clear line on stderr, a non-zero exit, no traceback, nothing created."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import histoire_subprocess, one_line_error


@pytest.mark.parametrize(
    "command",
    [["streams"], ["events", "account-1"], ["log"], ["verify"]],
)
def test_read_commands_on_a_missing_file_fail_and_create_nothing(
    histoire: Any, tmp_path: Path, command: list[str]
) -> None:
    """A read-only command on a store that does not exist exits 1 and creates no file."""
    run = histoire("--store", "sqlite:///missing.db", *command)
    assert run.code == 1
    assert "no event store at sqlite:///missing.db" in one_line_error(run)
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_histoire_db_in_the_current_folder(
    histoire: Any, tmp_path: Path
) -> None:
    """Without --store or HISTOIRE_STORE, commands use sqlite:///histoire.db."""
    run = histoire("streams")
    assert "sqlite:///histoire.db" in one_line_error(run)
    assert histoire("migrate").code == 0
    assert (tmp_path / "histoire.db").is_file()
    assert "0 streams" in histoire("streams").stdout


def test_an_unknown_scheme_is_one_line_without_traceback(tmp_path: Path) -> None:
    """A store URL of unknown scheme: one line on stderr, exit 2, from a real process."""
    run = histoire_subprocess("--store", "mysql://db/x", "streams", cwd=tmp_path)
    assert run.code == 2
    assert "unknown scheme 'mysql'" in one_line_error(run)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["events", " account-1"], "invalid stream id"),
        (["events", ""], "must not be empty"),
        (["events", "account-1", "--from-version", "-1"], "--from-version"),
        (["events", "account-1", "--limit", "0"], "--limit"),
        (["log", "--from", "-3"], "--from"),
        (["log", "--from", "soon"], "is not a position"),
        (["nonsense"], "No such command"),
        (["streams", "--bogus"], "--bogus"),
    ],
)
def test_bad_input_is_a_usage_error(
    histoire: Any, tmp_path: Path, args: list[str], says: str
) -> None:
    """Invalid arguments exit 2 with one line naming the problem, and create nothing."""
    run = histoire("--store", "sqlite:///missing.db", *args)
    assert run.code == 2
    assert says in one_line_error(run)
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_does_not_exist_is_an_error(histoire: Any) -> None:
    """`events` of a stream with no events exits 1 with one line."""
    assert histoire("migrate").code == 0
    run = histoire("events", "account-404")
    assert run.code == 1
    assert "account-404 does not exist" in one_line_error(run)


def test_a_file_that_is_not_a_database_is_one_line(histoire: Any, tmp_path: Path) -> None:
    """A file that is not SQLite at all: one line, exit 1."""
    (tmp_path / "notes.db").write_text("dear diary")
    run = histoire("--store", "sqlite:///notes.db", "streams")
    assert run.code == 1
    assert "notes.db" in one_line_error(run)


def test_help_and_version_exit_zero(histoire: Any) -> None:
    """--help lists every command; --version names the version; no command shows the help."""
    run = histoire("--help")
    assert run.code == 0
    for command in ("demo", "streams", "events", "log", "verify", "migrate"):
        assert command in run.stdout
    assert histoire("--version").stdout.startswith("histoire, version ")
    alone = histoire()
    assert alone.code == 0
    assert alone.stdout.startswith("Usage: histoire")


def test_migrate_creates_then_finds_the_schema_up_to_date(histoire: Any, tmp_path: Path) -> None:
    """`migrate` says what it did: created, then nothing to do."""
    first = histoire("--store", "sqlite:///new.db", "migrate")
    assert first.code == 0
    assert "created a new event store" in first.stdout
    again = histoire("--store", "sqlite:///new.db", "migrate")
    assert "up to date" in again.stdout
    assert "no schema" in histoire("--store", "memory://", "migrate").stdout


def test_migrate_into_a_missing_folder_is_one_line(histoire: Any, tmp_path: Path) -> None:
    """`migrate` into a folder that does not exist fails in one line and creates nothing."""
    run = histoire("--store", "sqlite:///no/such/folder/x.db", "migrate")
    assert run.code == 1
    one_line_error(run)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["log", "--type", "t\udcff"],
        ["log", "--category", "c\udcff"],
        ["streams", "--category", "c\udcff"],
        ["events", "account-\udcff"],
        ["--store", "sqlite:///\udcff.db", "streams"],
    ],
)
def test_text_that_is_not_utf8_is_a_usage_error(
    histoire: Any, tmp_path: Path, args: list[str]
) -> None:
    """Bytes that are not UTF-8 (surrogate-escaped by Python) are refused, shown as given."""
    assert histoire("migrate").code == 0
    run = histoire(*args)
    assert run.code == 2
    line = one_line_error(run)
    assert "is not UTF-8 text" in line
    assert "\\xff" in line


def test_a_non_utf8_argument_from_a_shell(tmp_path: Path) -> None:
    """`histoire log --type $'t\\xff'` from a real process: a usage error, not a crash."""
    assert histoire_subprocess("migrate", cwd=tmp_path).code == 0
    run = histoire_subprocess("log", "--type", os.fsdecode(b"t\xff"), cwd=tmp_path)
    assert run.code == 2
    assert "Invalid value for '--type': b't\\xff' is not UTF-8 text" in one_line_error(run)
