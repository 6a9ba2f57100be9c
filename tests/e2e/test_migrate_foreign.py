"""`migrate` and open_store(create=True) never add histoire's tables to another
application's SQLite file unless asked."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from histoire import SchemaError, open_store

from .conftest import one_line_error


@pytest.fixture
def foreign_file(tmp_path: Path) -> Path:
    """An SQLite file of another application: two tables and a view."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("CREATE TABLE orders (id INTEGER)")
        conn.execute("CREATE VIEW big_orders AS SELECT * FROM orders")
    conn.close()
    return path


def tables(path: Path) -> set[str]:
    """The names of the tables and views of `path`."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        names = {row[0] for row in rows}
    conn.close()
    return names


def test_migrate_refuses_a_file_of_another_application(histoire: Any, foreign_file: Path) -> None:
    """migrate exits 1 naming the foreign tables and the option, and changes nothing."""
    run = histoire("migrate", "--store", "sqlite:///app.db")
    assert run.code == 1
    line = one_line_error(run)
    assert "another application" in line
    assert "big_orders, customers, orders" in line
    assert "--into-existing-database" in line
    assert tables(foreign_file) == {"customers", "orders", "big_orders"}


def test_migrate_into_an_existing_database_when_asked(histoire: Any, foreign_file: Path) -> None:
    """With --into-existing-database, histoire's tables join the others, which stay."""
    run = histoire("migrate", "--store", "sqlite:///app.db", "--into-existing-database")
    assert run.code == 0, run.stderr
    assert {"customers", "orders", "histoire_events"} <= tables(foreign_file)
    again = histoire("migrate", "--store", "sqlite:///app.db")
    assert again.code == 0
    assert "up to date" in again.stdout
    assert histoire("verify", "--store", "sqlite:///app.db").code == 0


def test_open_store_refuses_too_unless_told(foreign_file: Path) -> None:
    """open_store(create=True) raises SchemaError; into_existing_database=True creates."""
    url = f"sqlite:///{foreign_file}"
    with pytest.raises(SchemaError, match=r"another application \(big_orders, customers, orders\)"):
        open_store(url)
    assert "histoire_events" not in tables(foreign_file)
    open_store(url, into_existing_database=True).close()
    open_store(url).close()  # holding histoire's schema now, it opens as any store
    assert "histoire_events" in tables(foreign_file)
