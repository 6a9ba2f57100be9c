"""A SQLite file damaged anywhere, property-based: every operation answers or raises a
HistoireError (CorruptDatabaseError for the damage), never a driver's error or a crash.

Bytes of the database file are overwritten at any offset (the header, the
schema, an index, the events' pages) with any bytes, as a failing disk or a
stray write would; then the store is opened and read, appended to, verified,
and shown by the CLI.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import histoire
from histoire import HistoireError, NewEvent, open_store
from histoire.cli import cli
from histoire.examples.catalog import make_codec

from ..domains import two_bank_accounts
from .strategies import examples

pytestmark = pytest.mark.guarantees


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed SQLite store of a few pages: two bank accounts and 300 more events."""
    path = tmp_path_factory.mktemp("damaged") / "base.db"
    store = open_store(f"sqlite:///{path}")
    two_bank_accounts(store)
    for n in range(30):
        store.append(
            f"filler-{n}",
            [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type="filler.Added",
                    schema_version=1,
                    data=b'{"n": %d, "pad": "%s"}' % (i, b"x" * 200),
                )
                for i in range(10)
            ],
        )
    store.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def attempt(outcomes: list[str], call: Any) -> None:
    """Run `call`; record 'ok' or the HistoireError's class; let any other exception fail."""
    try:
        call()
    except HistoireError as exc:
        outcomes.append(type(exc).__name__)
    else:
        outcomes.append("ok")


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    garbage=st.binary(min_size=1, max_size=600),
)
def test_a_damaged_file_raises_histoire_errors_only(
    base: Path, tmp_path: Path, where: float, garbage: bytes
) -> None:
    """Open, read, append, verify and the CLI on a file with `garbage` written at any
    offset: each succeeds or raises a HistoireError; none raises anything else."""
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(base, path)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(int(where * size))
        file.write(garbage)
    outcomes: list[str] = []
    url = f"sqlite:///{path}"
    try:
        store = open_store(url, create=False)
    except HistoireError as exc:
        outcomes.append(type(exc).__name__)
    else:
        try:
            attempt(outcomes, lambda: list(store.read_log()))
            attempt(outcomes, lambda: [e.metadata for e in store.read_stream("account-1")])
            attempt(outcomes, lambda: list(store.list_streams()))
            attempt(
                outcomes,
                lambda: store.append(
                    "account-9",
                    [NewEvent(event_id=uuid.uuid4(), type="t.X", schema_version=1, data=b"{}")],
                ),
            )
            attempt(outcomes, lambda: histoire.verify(store, make_codec()))
        finally:
            store.close()
    for command in (["verify"], ["log", "--limit", "5"], ["events", "account-1"]):
        result = CliRunner().invoke(cli, ["--store", url, *command], catch_exceptions=False)
        assert result.exit_code in (0, 1), (command, result.stderr)
        assert "a bug in histoire" not in result.stderr, (command, result.stderr)
    path.unlink()
