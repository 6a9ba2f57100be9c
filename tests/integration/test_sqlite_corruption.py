"""SQLite: a damaged database file is reported as corruption, with a class of its own."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from histoire import CorruptDatabaseError, StoreError, open_store
from histoire.testing.contract import new_events


def damage_an_index_page(path: Path) -> None:
    """Overwrite the first 2 KiB of the root page of the event-id index with garbage.

    Every insert descends from that page, as any append would.
    """
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'histoire_events' AND sql IS NULL ORDER BY name LIMIT 1"
        ).fetchone()
    conn.close()
    with open(path, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(os.urandom(2048))


def test_appending_to_a_damaged_file_raises_corruption_error(tmp_path: Path) -> None:
    """After 2 KiB of an index page are overwritten, an append raises CorruptDatabaseError
    (a StoreError of its own class, not SchemaError) naming the damage; nothing is written."""
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.append("account-1", new_events(500))
    store.close()  # the last connection checkpoints the WAL into the file
    damage_an_index_page(path)

    store = open_store(url)
    try:
        with pytest.raises(CorruptDatabaseError) as raised:
            store.append("account-1", new_events(1))
        assert isinstance(raised.value, StoreError)
        assert "damaged" in str(raised.value)
        assert "malformed" in raised.value.detail
    finally:
        store.close()
