"""The inspection commands open the store read-only: they work where the user may not write."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from histoire import CommandHandler, open_store
from histoire.cli import cli
from histoire.examples import bank

from .._users import listing, reachable_folder, unprivileged

COMMANDS = [["streams"], ["events", "account-1"], ["log"], ["verify"]]


def bank_store(folder: Path) -> str:
    """A small store of the bank example in `folder`, closed; its URL."""
    url = f"sqlite:///{folder / 'bank.db'}"
    store = open_store(url)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    handler.handle("account-1", bank.Deposit(amount_cents=500))
    store.close()
    return url


def run_commands(url: str) -> list[tuple[int, str]]:
    """Each read-only command on `url`: (exit code, output)."""
    runner = CliRunner()
    outcomes = []
    for args in COMMANDS:
        result = runner.invoke(cli, ["--store", url, *args], env={"COLUMNS": "120"})
        outcomes.append((result.exit_code, result.output))
    return outcomes


@pytest.mark.parametrize("folder_mode", [0o555, 0o777], ids=["read-only-folder", "open-folder"])
def test_streams_events_log_and_verify_read_a_read_only_store(
    monkeypatch: pytest.MonkeyPatch, folder_mode: int
) -> None:
    """On a read-only file (in a read-only folder or not), streams, events, log and verify
    succeed for a user who may not write it, and leave no file behind."""
    monkeypatch.delenv("HISTOIRE_STORE", raising=False)
    with reachable_folder() as folder:
        url = bank_store(folder)
        (folder / "bank.db").chmod(0o444)
        folder.chmod(folder_mode)
        # first as this user, which also imports what the commands load lazily
        expected = run_commands(url)
        assert [code for code, _ in expected] == [0, 0, 0, 0], expected
        assert unprivileged(lambda: run_commands(url)) == expected
        assert listing(folder) == ["bank.db"]
