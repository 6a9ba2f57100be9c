"""FAULTS, SQLite: the disk full in the middle of a run of commands.

The store's file lives on a small filesystem of the test's own (a 4 MB tmpfs,
mounted when the test runs as root), nearly filled by a ballast file; or, where
nothing can be mounted, under a page limit (`PRAGMA max_page_count`). Commands
run until the disk is full. Then: the error is a StoreFullError naming the
stream and saying what to do, nothing of the refused command is stored, the
store still reads; once the ballast is deleted (or the limit raised), the same
store object takes the same command again, with no reopening.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import StoreFullError, open_store
from histoire.app.handler import event_id_for
from histoire.store.sqlite import SQLiteEventStore

from .._services import require_services
from . import budget
from .bank_app import Post, make_app
from .checks import assert_store_whole

pytestmark = [pytest.mark.guarantees]

DISK = "4m"
LEFT = 300_000
"""Bytes the ballast leaves free on the small disk."""


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A tmpfs of DISK mounted on `folder`, or skip (fail under HISTOIRE_REQUIRE_SERVICES=1)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        message = f"cannot mount a small filesystem here: {mounted.stderr.strip()}"
        if require_services() and os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def ballast(folder: Path) -> Path:
    """A file that leaves LEFT bytes free on the filesystem of `folder`."""
    stats = os.statvfs(folder)
    path = folder / "ballast"
    with path.open("wb") as out:
        out.write(b"\0" * (stats.f_bavail * stats.f_frsize - LEFT))
        out.flush()
        os.fsync(out.fileno())
    return path


@pytest.mark.parametrize("limit", ["filesystem", "page_limit"])
def test_a_full_disk_refuses_whole_commands_clearly_and_writes_resume(
    limit: str, tmp_path: Path
) -> None:
    """Disk full: StoreFullError, nothing half written; space back: the same command works."""
    rounds = budget.times(3)
    with contextlib.ExitStack() as stack:
        if limit == "filesystem":
            folder = stack.enter_context(small_disk(tmp_path / "disk"))
        else:
            folder = tmp_path
        store = open_store(f"sqlite:///{folder / 'events.db'}")
        stack.callback(store.close)
        assert isinstance(store, SQLiteEventStore)
        app = make_app()
        ledger = app.handler("ledger", store)
        acknowledged = refused = 0
        for _ in range(rounds):
            if limit == "filesystem":
                free: Path | None = ballast(folder)
            else:
                pages = store._writer.execute("PRAGMA page_count").fetchone()[0]
                store._writer.execute(f"PRAGMA max_page_count = {pages + 60}")
            command = Post(amounts=list(range(1, 41)))
            while True:  # until the disk is full
                command_id = uuid.uuid4()
                version = store.stream_version("ledger-1")
                try:
                    ledger.handle("ledger-1", command, command_id=command_id)
                except StoreFullError as exc:
                    error = exc
                    break
                acknowledged += 1
                assert acknowledged < 10_000, "the disk never filled"
            refused += 1
            assert error.retryable
            assert "ledger-1" in str(error) and "full" in str(error), str(error)
            assert "nothing of this write was stored" in str(error)
            assert store.stream_version("ledger-1") == version
            assert store.get_event(event_id_for(command_id, 0)) is None
            assert store.get_event(event_id_for(command_id, 39)) is None
            with pytest.raises(StoreFullError):  # still full: refused again, still whole
                ledger.handle("ledger-1", command, command_id=command_id)
            if limit == "filesystem":
                assert free is not None
                free.unlink()
            else:
                store._writer.execute("PRAGMA max_page_count = 1073741823")
            result = ledger.handle("ledger-1", command, command_id=command_id)
            assert (result.events[0].version, result.version) == (version + 1, version + 40)
            acknowledged += 1
        events = assert_store_whole(store, app)
        assert events == 40 * acknowledged
        print(f"\n{limit}: {refused} disk-full faults, {acknowledged} commands, {events} events")
