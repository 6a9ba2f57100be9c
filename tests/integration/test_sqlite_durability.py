"""SQLite durability: WAL and synchronous=FULL by default; acknowledged appends survive kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from histoire import EventStore, open_store
from histoire.store.sqlite import SQLiteEventStore
from histoire.testing.contract import new_events

FULL, NORMAL = 2, 1


def pragmas(store: EventStore, name: str) -> set[object]:
    """The value of a PRAGMA on every connection the store has opened (writer and readers)."""
    assert isinstance(store, SQLiteEventStore)
    list(store.read_log(limit=1))  # opens this thread's reader connection too
    connections = [store._writer, store._reader()]
    return {conn.execute(f"PRAGMA {name}").fetchone()[0] for conn in connections}


def test_the_journal_is_wal_and_synchronous_is_full_by_default(tmp_path: Path) -> None:
    """A store opened with no options writes a WAL journal with synchronous=FULL."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        assert pragmas(store, "journal_mode") == {"wal"}
        assert pragmas(store, "synchronous") == {FULL}
    finally:
        store.close()


def test_the_journal_mode_is_recorded_in_the_file(tmp_path: Path) -> None:
    """Any sqlite3 connection to the file sees journal_mode=wal."""
    path = tmp_path / "events.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("url_suffix", "options"),
    [("?durability=fast", {}), ("", {"durability": "fast"})],
    ids=["url", "option"],
)
def test_synchronous_is_normal_only_when_asked_for_by_name(
    tmp_path: Path, url_suffix: str, options: dict[str, str]
) -> None:
    """durability="fast" (in the URL or as an option) gives synchronous=NORMAL, still WAL."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}{url_suffix}", **options)
    try:
        assert pragmas(store, "synchronous") == {NORMAL}
        assert pragmas(store, "journal_mode") == {"wal"}
    finally:
        store.close()


def test_durability_full_can_be_asked_for_explicitly(tmp_path: Path) -> None:
    """durability=full in the URL is the default made explicit."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}?durability=full")
    try:
        assert pragmas(store, "synchronous") == {FULL}
    finally:
        store.close()


WRITER = textwrap.dedent(
    """
    import sys, threading, uuid
    from histoire import NewEvent, open_store

    store = open_store(sys.argv[1])
    print_lock = threading.Lock()

    def write(worker):
        stream_id = f"account-{worker}"
        version = 0
        while True:
            events = [
                NewEvent(event_id=uuid.uuid4(), type="t", schema_version=1, data=b'{"n":1}')
                for _ in range(1 + version % 3)
            ]
            result = store.append(stream_id, events, version)
            version = result.last_version
            lines = "".join(
                f"{e.event_id} {e.stream_id} {e.version} {e.position}\\n" for e in result.events
            )
            with print_lock:
                sys.stdout.write(lines)
                sys.stdout.flush()

    for worker in range(4):
        threading.Thread(target=write, args=(worker,), daemon=True).start()
    threading.Event().wait()
    """
)


def kill_writer_after(url: str, count: int) -> tuple[list[str], str]:
    """Run WRITER on `url`, kill -9 it once it acknowledged `count` events.

    Returns every line it acknowledged (some may be cut by the kill) and its stderr.
    """
    acknowledged: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        try:
            deadline = time.monotonic() + 60
            while len(acknowledged) < count and time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:
                    break
                acknowledged.append(line.decode())
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        # Read the rest through the same buffered object: communicate() reads the
        # raw pipe and would skip what readline() has buffered already.
        rest, errors = child.stdout.read().decode(), child.stderr.read().decode()
    assert child.returncode == -signal.SIGKILL, errors
    return acknowledged + rest.splitlines(keepends=True), errors


@pytest.mark.parametrize("durability", ["full", "fast"])
def test_acknowledged_appends_survive_a_killed_writer(tmp_path: Path, durability: str) -> None:
    """After kill -9 of a writing process, the store opens and holds every acknowledged event."""
    path = tmp_path / "events.db"
    acknowledged, errors = kill_writer_after(f"sqlite:///{path}?durability={durability}", 300)
    complete = [line.split() for line in acknowledged if line.endswith("\n")]
    assert len(complete) >= 300, errors

    store = SQLiteEventStore(path, create=False)
    try:
        assert store.integrity_problems() == []
        for event_id, stream_id, version, position in complete:
            stored = store.get_event(uuid.UUID(event_id))
            assert stored is not None, f"acknowledged event {event_id} is lost"
            assert (stored.stream_id, stored.version, stored.position) == (
                stream_id,
                int(version),
                int(position),
            )
        log = list(store.read_log())
        assert len(log) >= len(complete)
        positions = [e.position for e in log]
        assert positions == list(range(1, len(log) + 1))
    finally:
        store.close()


def test_a_store_written_after_a_kill_goes_on_from_where_it_was(tmp_path: Path) -> None:
    """A store reopened after a killed writer accepts appends at the next version."""
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    kill_writer_after(url, 20)
    store = open_store(url)
    try:
        version = store.stream_version("account-0")
        result = store.append("account-0", new_events(2), version)
        assert result.first_version == version + 1
        assert result.first_position == store.head().position - 1
    finally:
        store.close()
