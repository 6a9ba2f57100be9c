"""`histoire demo` on other stores, and its `--fresh` rules."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

from histoire import NewEvent, open_store

from .conftest import one_line_error


def test_the_demo_runs_on_a_memory_store(histoire: Any) -> None:
    """With --store memory://, the demo tells the same story and says nothing persists."""
    run = histoire("--store", "memory://", "demo")
    assert run.code == 0, run.stderr
    assert "refused" in run.stdout
    assert "gone with this process" in run.stdout
    assert not list(Path().iterdir())


def test_the_demo_uses_the_store_of_histoire_store(histoire: Any, tmp_path: Path) -> None:
    """HISTOIRE_STORE chooses the demo's store, like --store."""
    run = histoire("demo", env={"HISTOIRE_STORE": "sqlite:///story.db"})
    assert run.code == 0, run.stderr
    assert (tmp_path / "story.db").is_file()
    assert "histoire --store sqlite:///story.db streams" in run.stdout


def test_fresh_replaces_the_demo_file(histoire: Any, tmp_path: Path) -> None:
    """`demo --fresh` replaces a file the demo wrote."""
    assert histoire("demo").code == 0
    again = histoire("demo", "--fresh")
    assert again.code == 0, again.stderr
    verify = histoire("--store", "sqlite:///histoire-demo.db", "verify", "--json")
    assert verify.json_lines()[0]["events"] == 25


def test_fresh_never_erases_a_store_with_other_streams(histoire: Any, tmp_path: Path) -> None:
    """`demo --fresh` refuses to replace a file holding streams the demo did not write."""
    store = open_store("sqlite:///histoire-demo.db")
    event = NewEvent(event_id=uuid.uuid4(), type="shop.OrderPlaced", schema_version=1, data=b"{}")
    store.append("order-1", [event])
    store.close()
    run = histoire("demo", "--fresh")
    assert run.code == 1
    assert "order-1" in one_line_error(run)
    kept = open_store("sqlite:///histoire-demo.db", create=False)
    assert kept.stream_version("order-1") == 1
    kept.close()


def test_fresh_never_erases_a_file_that_is_not_a_store(histoire: Any, tmp_path: Path) -> None:
    """`demo --fresh` refuses to replace an SQLite file that holds no histoire store."""
    connection = sqlite3.connect(tmp_path / "histoire-demo.db")
    connection.execute("CREATE TABLE precious (x)")
    connection.commit()
    connection.close()
    run = histoire("demo", "--fresh")
    assert run.code == 1
    assert "not a histoire store" in one_line_error(run)


def test_fresh_is_for_sqlite_files_only(histoire: Any) -> None:
    """`demo --fresh` on another store is a usage error."""
    run = histoire("--store", "memory://", "demo", "--fresh")
    assert run.code == 2
    one_line_error(run)
