"""verify runs the database's own integrity check: a damaged SQLite page is never "OK"."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

import histoire
from histoire import NewEvent, open_store

from .conftest import one_line_error

URL = "sqlite:///pages.db"
INDEXES = [
    "sqlite_autoindex_histoire_events_1",  # event_id
    "sqlite_autoindex_histoire_events_2",  # (stream_id, version)
    "histoire_events_by_category",
]


@pytest.fixture
def pages_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of 1,500 events: every index spans several pages."""
    monkeypatch.chdir(tmp_path)
    store = open_store(URL + "?durability=fast")
    for n in range(30):
        events = [
            NewEvent(event_id=uuid.uuid4(), type="shop.Sold", schema_version=1, data=b'{"n": 1}')
            for _ in range(50)
        ]
        store.append(f"item-{n}", events)
    store.close()  # the last connection checkpoints the WAL into the file
    return tmp_path / "pages.db"


def index_page(path: Path, index: str) -> tuple[int, int]:
    """(page number, page size) of a leaf page of `index`, or its root without dbstat."""
    connection = sqlite3.connect(path)
    try:
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        try:
            found = connection.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' LIMIT 1", (index,)
            ).fetchone()
        except sqlite3.OperationalError:  # SQLite built without dbstat
            found = connection.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)
            ).fetchone()
        return found[0], size
    finally:
        connection.close()


def overwrite_2k(path: Path, page: int, page_size: int) -> None:
    """Overwrite the first 2 KiB of `page`, as a bad disk or a stray write would."""
    with path.open("r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(b"\xa5" * 2048)


@pytest.mark.parametrize("index", INDEXES)
def test_an_overwritten_index_page_fails_verify(
    histoire: Any, pages_file: Path, index: str
) -> None:
    """2 KiB overwritten in an index page: verify exits 1 naming SQLite's finding, never OK."""
    overwrite_2k(pages_file, *index_page(pages_file, index))
    run = histoire("verify", "--store", URL)
    assert run.code == 1, run.stdout
    assert "PRAGMA quick_check:" in run.stdout
    assert "OK" not in run.stdout
    assert "defect" in one_line_error(run)
    full = histoire("verify", "--store", URL, "--full", "--json")
    assert full.code == 1
    problems = [d["problem"] for d in full.json_lines()[0]["defects"]]
    assert any(p.startswith("PRAGMA integrity_check:") for p in problems), problems


def test_the_check_is_a_public_function(pages_file: Path) -> None:
    """histoire.verify(store) reports the damage to library users too."""
    store = open_store(URL, create=False)
    try:
        assert histoire.verify(store).ok
        assert histoire.verify(store).checks[0] == "PRAGMA quick_check"
    finally:
        store.close()
    overwrite_2k(pages_file, *index_page(pages_file, INDEXES[0]))
    store = open_store(URL, create=False)
    try:
        report = histoire.verify(store, full=True)
    finally:
        store.close()
    assert not report.ok
    assert any("PRAGMA integrity_check" in d.problem for d in report.defects)


def test_a_sound_file_says_which_checks_ran(histoire: Any, pages_file: Path) -> None:
    """On a sound file, verify names the database's own check among what passed."""
    run = histoire("verify", "--store", URL)
    assert run.code == 0, run.stdout
    assert "the database's own checks pass: PRAGMA quick_check" in run.stdout
    report = histoire("verify", "--store", URL, "--json").json_lines()[0]
    assert report["checks"] == ["PRAGMA quick_check", "immutability triggers", "categories"]
