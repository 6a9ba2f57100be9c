"""Finding the local services the integration tests need.

Tests that need a service skip with the reason when it is missing, unless
HISTOIRE_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.

PostgreSQL, in order: HISTOIRE_TEST_POSTGRES_URL; the local server at
postgresql://postgres@127.0.0.1:5432/test; a temporary cluster started with
initdb and pg_ctl in a temporary folder (stopped when the tests end). Each
test gets its own schema, dropped when the session ends.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

_schemas: dict[str, list[str]] = {}
_schemas_lock = threading.Lock()


def require_services() -> bool:
    """Whether a missing service must fail the run instead of skipping."""
    return os.environ.get("HISTOIRE_REQUIRE_SERVICES") == "1"


@functools.cache
def postgres_url() -> str | None:
    """A URL of a reachable PostgreSQL server, or None (cached for the session)."""
    given = os.environ.get("HISTOIRE_TEST_POSTGRES_URL")
    if given:
        return given
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    if postgres_reachable(LOCAL_POSTGRES_URL):
        return LOCAL_POSTGRES_URL
    cluster = TemporaryCluster.start_or_none()
    if cluster is None:
        return None
    atexit.register(cluster.stop)
    return cluster.url


@functools.cache
def private_postgres_url() -> str | None:
    """A URL of a temporary cluster of this session's own, or postgres_url() if none starts.

    For tests that hold a transaction open on purpose: on a shared server that
    would hold back the visibility horizon of everyone else's tests.
    """
    cluster = TemporaryCluster.start_or_none()
    if cluster is None:
        return postgres_url()
    atexit.register(cluster.stop)
    return cluster.url


def postgres_reachable(url: str, timeout: int = 2) -> bool:
    """Whether a connection to `url` succeeds now."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=timeout).close()
    except psycopg.Error:
        return False
    return True


def fresh_postgres_schema(url: str) -> str:
    """A new schema name for one test (the store creates it); dropped at session end."""
    name = "t_" + uuid.uuid4().hex
    with _schemas_lock:
        if url not in _schemas:
            _schemas[url] = []
            atexit.register(_drop_schemas, url)
        _schemas[url].append(name)
    return name


def _drop_schemas(url: str) -> None:
    import psycopg

    with _schemas_lock:
        names, _schemas[url] = _schemas.get(url, []), []
    if not names:
        return
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(url, autocommit=True, connect_timeout=2) as conn,
    ):
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(_DROP_STALE_SCHEMAS)


# Test schemas of sessions that died before their exit hook (killed runs): at most
# 100 per session, and only those migrated more than an hour ago.
_DROP_STALE_SCHEMAS = """
DO $$
DECLARE
    found record;
    applied timestamptz;
    dropped integer := 0;
BEGIN
    FOR found IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^t_[0-9a-f]{32}$' LOOP
        EXIT WHEN dropped >= 100;
        CONTINUE WHEN to_regclass(format('%I.schema_versions', found.nspname)) IS NULL;
        EXECUTE format('SELECT max(applied_at) FROM %I.schema_versions', found.nspname)
            INTO applied;
        IF applied < now() - interval '1 hour' THEN
            EXECUTE format('DROP SCHEMA %I CASCADE', found.nspname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
END
$$
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporaryCluster:
    """A PostgreSQL cluster of our own in a temporary folder: initdb, pg_ctl start/stop."""

    def __init__(self, folder: Path, port: int, as_user: list[str]) -> None:
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        self._as_user = as_user
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    @classmethod
    def start_or_none(cls) -> TemporaryCluster | None:
        """Start a new cluster, or None if initdb and pg_ctl are missing or fail."""
        if not (shutil.which("initdb") and shutil.which("pg_ctl")):
            return None
        as_user: list[str] = []
        folder = Path(tempfile.mkdtemp(prefix="histoire-pg-"))
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if not shutil.which("runuser"):
                return None
            try:
                import pwd

                owner = pwd.getpwnam("postgres")
            except KeyError:
                return None
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        cluster = cls(folder, _free_port(), as_user)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"
            )
            cluster.start()
        except (OSError, subprocess.SubprocessError):
            cluster.stop()
            return None
        return cluster

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_user, *args], check=True, capture_output=True, timeout=60, cwd=self.folder
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=on -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data: `fast` cuts sessions, `immediate` crashes it."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        """Stop the server (if running) and remove its folder."""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self, mode: str = "fast") -> None:
        """Stop the server and start it again."""
        self.stop_server(mode)
        self.start()


def postgres_url_or_skip(private: bool = False) -> str:
    """postgres_url() (or private_postgres_url()), or skip the test.

    Under HISTOIRE_REQUIRE_SERVICES=1 a missing server fails the test instead.
    """
    import pytest

    url = private_postgres_url() if private else postgres_url()
    if url is None:
        message = "PostgreSQL is not reachable (see tests/_services.py)"
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    return url


def settled_head(store: Any, timeout: float = 20.0) -> Any:
    """A PostgreSQL store's head once no committed event hides behind a running transaction.

    Other sessions on the same server (other test runs) can hold the visibility
    horizon back for a moment; tests that compare heads wait for it to pass.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        checkpoint, hidden = store._head()
        if not hidden or time.monotonic() > deadline:
            return checkpoint
        time.sleep(0.01)


# -- brokers ------------------------------------------------------------------

LOCAL_BROKERS = {
    "nats": "nats://127.0.0.1:4222",
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
}
"""The local servers the broker tests use (HISTOIRE_TEST_<NAME>_URL overrides each)."""


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to host:port succeeds now."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def broker_url_or_skip(name: str) -> str:
    """The URL of the local broker `name` (nats, redis, rabbitmq), or skip the test.

    Under HISTOIRE_REQUIRE_SERVICES=1 a missing server fails the test instead.
    """
    from urllib.parse import urlsplit

    import pytest

    url = os.environ.get(f"HISTOIRE_TEST_{name.upper()}_URL") or LOCAL_BROKERS[name]
    parts = urlsplit(url)
    if not tcp_reachable(parts.hostname or "127.0.0.1", parts.port or 0):
        message = (
            f"{name} is not reachable at {parts.hostname}:{parts.port} (see tests/_services.py)"
        )
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    return url


def free_port() -> int:
    """A TCP port nobody listens on now, on the loopback."""
    return _free_port()
