"""FAULTS, PostgreSQL: the disk under the events' tablespace full in the middle of commands.

A cluster of the test's own (initdb in a temporary folder) gets a tablespace
on a small tmpfs; the store's sessions create its tables there
(`options=-c default_tablespace=...` in the URL). Commands run until the disk
is full: StoreFullError (retryable), nothing of the refused command stored;
the tmpfs grown again, the same store object takes the same command.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from histoire import StoreFullError, open_store
from histoire.app.handler import event_id_for

from .._services import TemporaryCluster, require_services
from .bank_app import Post, make_app
from .checks import assert_store_whole

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres, pytest.mark.slow]


def unavailable(message: str) -> None:
    if require_services():
        pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
    pytest.skip(message)


@contextlib.contextmanager
def small_tablespace() -> Iterator[tuple[TemporaryCluster, Path]]:
    """A private cluster with a tablespace `small` on a 3 MB tmpfs owned by postgres, in the
    cluster's folder (the server's user cannot reach a folder of root's)."""
    if os.geteuid() != 0:
        unavailable("mounting a small filesystem needs root")
    cluster = TemporaryCluster.start_or_none()
    if cluster is None:
        unavailable("cannot start a PostgreSQL cluster of our own (initdb/pg_ctl)")
    assert cluster is not None
    owner = pwd.getpwnam("postgres")
    folder = cluster.folder / "disk"
    folder.mkdir()
    options = f"size=3m,uid={owner.pw_uid},gid={owner.pw_gid},mode=0700"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE small LOCATION '{folder}'")
        yield cluster, folder
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            cluster.stop_server()
        subprocess.run(["umount", "-l", str(folder)], check=False)
        cluster.stop()


def test_a_full_tablespace_refuses_whole_commands_clearly_and_writes_resume() -> None:
    """Disk full under PostgreSQL: StoreFullError, nothing half written; space back: it works."""
    with small_tablespace() as (cluster, folder):
        url = f"{cluster.url}?options={quote('-c default_tablespace=small')}"
        store = open_store(url, schema="full")
        ledger = make_app().handler("ledger", store)
        command = Post(amounts=list(range(1, 41)))
        acknowledged = 0
        try:
            while True:
                command_id = uuid.uuid4()
                version = store.stream_version("ledger-1")
                try:
                    ledger.handle("ledger-1", command, command_id=command_id)
                except StoreFullError as exc:
                    error = exc
                    break
                acknowledged += 1
                assert acknowledged < 10_000, "the disk never filled"
            assert error.retryable
            assert "ledger-1" in str(error) and "full" in str(error), str(error)
            assert store.stream_version("ledger-1") == version
            assert store.get_event(event_id_for(command_id, 0)) is None
            subprocess.run(["mount", "-o", "remount,size=16m", str(folder)], check=True)
            result = ledger.handle("ledger-1", command, command_id=command_id)
            assert (result.events[0].version, result.version) == (version + 1, version + 40)
            assert assert_store_whole(store, make_app()) == 40 * (acknowledged + 1)
        finally:
            store.close()
    print(f"\npostgres: 1 disk-full fault after {acknowledged} commands: {error}")
