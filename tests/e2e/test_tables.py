"""Tables stay readable at 80 columns and through a pipe: values are never folded a few
characters wide."""

from __future__ import annotations

from typing import Any

import pytest

DEMO = "sqlite:///histoire-demo.db"


@pytest.fixture
def demo_file(histoire: Any) -> str:
    """The demo's store, written in the test's folder."""
    assert histoire("demo").code == 0
    return DEMO


@pytest.mark.parametrize("command", [["log"], ["events", "account-ada"], ["streams"]])
def test_at_80_columns_every_line_fits_and_values_stay_whole(
    histoire: Any, demo_file: str, command: list[str]
) -> None:
    """Piped (80 columns): no line is wider, and each payload reads on one line."""
    run = histoire("--store", demo_file, *command, env={"COLUMNS": "80"})
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    if command != ["streams"]:
        assert any('{"owner": "Ada Lovelace", "currency": "EUR"}' in line for line in lines)


def test_each_value_goes_under_its_row_when_narrow(histoire: Any, demo_file: str) -> None:
    """At 80 columns the data and metadata of an event follow its row, labelled."""
    run = histoire("--store", demo_file, "events", "account-ada", env={"COLUMNS": "80"})
    lines = run.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "bank.AccountOpened v1" in line)
    assert lines[first + 1].strip() == 'data: {"owner": "Ada Lovelace", "currency": "EUR"}'
    assert lines[first + 2].strip().startswith("metadata: user=teller-12")


def test_a_wide_terminal_keeps_one_row_per_event(histoire: Any, demo_file: str) -> None:
    """At 160 columns the data sits on the event's own line, as a table column."""
    run = histoire("--store", demo_file, "log", "--limit", "1", env={"COLUMNS": "160"})
    row = next(line for line in run.stdout.splitlines() if "bank.AccountOpened" in line)
    assert '{"owner": "Ada Lovelace", "currency": "EUR"}' in row
