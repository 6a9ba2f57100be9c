"""SQLite read-only stores: they read a store they may not write, and leave no file behind.

The read-only situations are real ones (see tests/_users.py): a folder or a
file that the reading user may not write to.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import ReadOnlyStoreError, StoreError, open_store
from histoire.testing.contract import new_events

from .._users import listing, reachable_folder, unprivileged


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder that the unprivileged user can reach."""
    with reachable_folder() as path:
        yield path


def make_store(folder: Path, events: int = 5) -> str:
    """A closed store of `events` events in `folder`; its URL."""
    url = f"sqlite:///{folder / 'events.db'}"
    store = open_store(url)
    store.append("account-1", new_events(events))
    store.close()
    return url


def read_everything(url: str) -> tuple[int, list[str], int]:
    """Open read-only and read: (log length, stream ids, head position)."""
    store = open_store(url, read_only=True)
    try:
        log = list(store.read_log())
        streams = [info.stream_id for info in store.list_streams()]
        return len(log), streams, store.head().position
    finally:
        store.close()


def test_a_store_in_a_read_only_folder_is_read_without_writing(folder: Path) -> None:
    """In a folder the user may not write to, read_only=True reads every event, and the
    folder is unchanged; a writable open says to use read_only instead."""
    url = make_store(folder)
    (folder / "events.db").chmod(0o444)
    folder.chmod(0o555)

    assert unprivileged(lambda: read_everything(url)) == (5, ["account-1"], 5)
    assert unprivileged(lambda: read_everything(f"{url}?mode=ro")) == (5, ["account-1"], 5)
    refused = unprivileged(lambda: open_store(url, create=False).close())
    assert refused.startswith("StoreError") and "read_only=True" in refused
    assert listing(folder) == ["events.db"]


def test_a_read_only_file_in_a_writable_folder_leaves_no_file_behind(folder: Path) -> None:
    """On a read-only file in a folder the user may write to, reading creates no -wal or
    -shm file."""
    url = make_store(folder)
    (folder / "events.db").chmod(0o444)
    folder.chmod(0o777)

    assert unprivileged(lambda: read_everything(url)) == (5, ["account-1"], 5)
    assert listing(folder) == ["events.db"]


def test_a_live_store_is_read_through_its_journal(folder: Path) -> None:
    """While a writer has the store open, a reader without write access sees every event,
    those still in the writer's -wal file too, and creates no file."""
    url = f"sqlite:///{folder / 'events.db'}"
    writer = open_store(url)
    try:
        writer.append("account-1", new_events(5))
        folder.chmod(0o555)
        before = listing(folder)
        assert "events.db-wal" in before
        assert stat.S_IMODE((folder / "events.db-wal").stat().st_mode) & 0o002 == 0

        assert unprivileged(lambda: read_everything(url)) == (5, ["account-1"], 5)
        assert listing(folder) == before
    finally:
        folder.chmod(0o755)
        writer.close()


def test_a_reader_opened_on_an_idle_file_sees_writers_that_come_later(folder: Path) -> None:
    """A read-only store opened while nobody writes sees what a writer appended and
    checkpointed into the file since, and what a writer still open appends.

    (A writer's -wal and -shm files may then outlive it: SQLite deletes them
    when the last connection closes, and a read-only one cannot.)"""
    url = make_store(folder, events=2)
    reader = open_store(url, read_only=True)
    try:
        assert reader.stream_version("account-1") == 2
        writer = open_store(url)
        writer.append("account-1", new_events(3))
        writer.close()  # checkpoints into the file, removes its -wal
        assert listing(folder) == ["events.db"]
        assert reader.stream_version("account-1") == 5
        writer = open_store(url)
        writer.append("account-2", new_events(1))
        assert reader.stream_version("account-2") == 1
        writer.append("account-2", new_events(1))
        writer.close()
        assert [e.version for e in reader.read_stream("account-2")] == [1, 2]
        assert len(list(reader.read_log())) == 7
        with pytest.raises(ReadOnlyStoreError):
            reader.append("account-1", new_events(1))
    finally:
        reader.close()


def test_a_read_only_store_that_does_not_exist_is_not_created(folder: Path) -> None:
    """read_only=True on a missing file raises StoreNotFoundError and creates nothing."""
    with pytest.raises(StoreError, match="no event store"):
        open_store(f"sqlite:///{folder / 'missing.db'}", read_only=True)
    assert listing(folder) == []
