"""SQLite: opening, refusing to create, and files that are not histoire stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from histoire import (
    CorruptDatabaseError,
    HistoireError,
    InvalidInputError,
    InvalidStoreURLError,
    SchemaError,
    StoreError,
    StoreNotFoundError,
    open_store,
)
from histoire.store.sqlite import SQLiteEventStore, sqlite_path_from_url
from histoire.testing.contract import new_events

from .closing import close_under_load


def test_opening_a_missing_store_without_create_makes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening sqlite:///missing.db with create=False raises StoreNotFoundError, makes no file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreNotFoundError) as raised:
        open_store("sqlite:///missing.db", create=False)
    assert "missing.db" in raised.value.url
    assert list(tmp_path.iterdir()) == []


def test_opening_a_missing_absolute_path_without_create_makes_no_file(tmp_path: Path) -> None:
    """The same holds for an absolute path (sqlite:////...)."""
    with pytest.raises(StoreNotFoundError):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_relative_url_creates_the_store_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///events.db is events.db relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///events.db")
    store.close()
    assert (tmp_path / "events.db").exists()


def test_an_existing_store_opens_without_create(tmp_path: Path) -> None:
    """create=False opens a store that exists and reads what it holds."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url)
    store.append("account-1", new_events(3))
    store.close()
    reopened = open_store(url, create=False)
    try:
        assert reopened.stream_version("account-1") == 3
    finally:
        reopened.close()


def test_a_store_in_a_missing_folder_is_not_found(tmp_path: Path) -> None:
    """A path whose folder does not exist raises StoreNotFoundError rather than a driver error."""
    with pytest.raises(StoreNotFoundError):
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'events.db'}")
    assert list(tmp_path.iterdir()) == []


def test_an_sqlite_file_of_someone_else_is_not_a_store(tmp_path: Path) -> None:
    """create=False on an SQLite file without histoire's schema raises SchemaError."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(SchemaError):
        open_store(f"sqlite:///{path}", create=False)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}


def test_a_file_that_is_not_sqlite_is_a_corruption_error(tmp_path: Path) -> None:
    """A file that is not an SQLite database raises CorruptDatabaseError and is left unchanged."""
    path = tmp_path / "events.db"
    garbage = b"this is not a database at all" * 100
    path.write_bytes(garbage)
    for options in ({"create": False}, {"create": True}, {"read_only": True}):
        with pytest.raises(CorruptDatabaseError, match="not an SQLite database"):
            open_store(f"sqlite:///{path}", **options)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.db"]


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer histoire raises SchemaError asking for an upgrade."""
    path = tmp_path / "events.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE histoire_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaError, match="upgrade"):
        open_store(f"sqlite:///{path}")


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    """Only durability full or fast exists, in the URL or as an option."""
    with pytest.raises(InvalidStoreURLError):
        open_store(f"sqlite:///{tmp_path / 'a.db'}?durability=turbo")
    with pytest.raises(InvalidInputError):
        SQLiteEventStore(tmp_path / "b.db", durability="turbo")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///events.db", "events.db"),
        ("sqlite:///data/events.db", "data/events.db"),
        ("sqlite:////var/lib/events.db", "/var/lib/events.db"),
        ("sqlite://localhost/events.db", "events.db"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_sqlite_urls_name_a_file(url: str, path: str) -> None:
    """Three slashes for a relative path, four for an absolute one."""
    assert sqlite_path_from_url(url) == path


@pytest.mark.parametrize("url", ["sqlite://server/events.db", "sqlite:///", "sqlite://"])
def test_malformed_sqlite_urls_are_refused(url: str) -> None:
    """A host or a missing path raises InvalidStoreURLError."""
    with pytest.raises(InvalidStoreURLError):
        sqlite_path_from_url(url)


@pytest.mark.parametrize("url", ["", "ftp://x", "events.db", "mysql://localhost/x"])
def test_unknown_store_urls_are_refused(url: str) -> None:
    """open_store refuses URLs of no known scheme with InvalidStoreURLError."""
    with pytest.raises(InvalidStoreURLError):
        open_store(url)


def test_a_closed_store_raises_a_store_error(tmp_path: Path) -> None:
    """Using a closed store raises StoreError, never a raw sqlite3 error."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    store.append("account-1", new_events(1))
    store.close()
    for attempt in (
        lambda: store.append("account-1", new_events(1)),
        lambda: list(store.read_stream("account-1")),
        lambda: list(store.read_log()),
        lambda: store.head(),
        lambda: store.stream_version("account-1"),
    ):
        with pytest.raises(StoreError):
            attempt()
    assert issubclass(StoreError, HistoireError)


def test_threads_opening_one_new_file_at_once_all_get_a_store(tmp_path: Path) -> None:
    """Opening a new file together: the switch to WAL waits its turn, never fails "locked"."""
    from histoire import open_store
    from histoire.testing._contract.support import in_threads

    for round_ in range(30):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        opened: list[object] = []

        def open_one(_: int, url: str = url, opened: list[object] = opened) -> None:
            opened.append(open_store(url))

        errors = in_threads(8, open_one)
        for store in opened:
            store.close()  # type: ignore[attr-defined]
        assert errors == [], [repr(e) for e in errors]


def test_closing_the_store_while_threads_use_it_ends_them_cleanly(tmp_path: Path) -> None:
    """close() while other threads append, read and wait never pulls a connection from
    under them (the driver would crash the process): each ends with StoreError, and every
    append that returned is stored."""
    store = SQLiteEventStore(tmp_path / "events.db")
    with SQLiteEventStore(tmp_path / "events.db") as reopened:
        close_under_load(store, reopened)


def test_closing_the_async_store_while_tasks_append_ends_them_cleanly(tmp_path: Path) -> None:
    """aclose() while tasks append: the appends under way finish whole, later ones raise
    StoreError, and every append that returned is stored."""
    import asyncio

    from histoire.store.sqlite.async_store import AsyncSQLiteEventStore

    async def scenario() -> tuple[list[str], list[BaseException]]:
        store = AsyncSQLiteEventStore(tmp_path / "events.db")
        stored: list[str] = []
        errors: list[BaseException] = []

        async def write(task: int) -> None:
            try:
                for n in range(100_000):
                    await store.append(f"closing-{task}-{n}", new_events(2))
                    stored.append(f"closing-{task}-{n}")
            except StoreError as exc:
                errors.append(exc)

        tasks = [asyncio.create_task(write(n)) for n in range(8)]
        while len(stored) < 50:
            await asyncio.sleep(0.005)
        await store.aclose()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        return stored, errors

    stored, errors = asyncio.run(scenario())
    assert len(errors) == 8 and all("closed" in str(error) for error in errors)
    with SQLiteEventStore(tmp_path / "events.db") as reopened:
        for stream in stored:
            assert reopened.stream_version(stream) == 2
