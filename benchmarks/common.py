"""Helpers shared by the systems under test: timing, threads, SQLite, PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

Prepared = Callable[[], int]
"""A prepared workload: calling it does the timed work and returns the number of ops."""

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "HISTOIRE_BENCH_POSTGRES_URL"

OWNER = "Ada Lovelace"
AMOUNT_CENTS = 100
CURRENCY = "EUR"


def now_us() -> int:
    """Microseconds since the Unix epoch (what the raw limit stores as recorded_at)."""
    return time.time_ns() // 1000


def threaded(
    parts: Sequence[Sequence[T]],
    work: Callable[[T], Any],
    warm: Callable[[T], Any] | None = None,
) -> Prepared:
    """Start one thread per part, parked on a barrier; the returned callable releases
    them all at once and waits for the last one (thread start-up is not timed).

    `warm(first item)` runs in every thread, all at once, before the clock: the
    connections a system opens per thread or grows its pool to are opened untimed,
    for every system alike (the raw limit opens its connections beforehand)."""
    barrier = threading.Barrier(len(parts) + 1)
    warmed = threading.Barrier(len(parts) + 1)
    errors: list[BaseException] = []

    def worker(part: Sequence[T]) -> None:
        try:
            if warm is not None and part:
                warm(part[0])
        except BaseException as exc:  # reported by run()
            errors.append(exc)
        warmed.wait()
        barrier.wait()
        try:
            for item in part:
                work(item)
        except BaseException as exc:  # reported by run()
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in parts]
    for thread in threads:
        thread.start()
    warmed.wait()

    def run() -> int:
        barrier.wait()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sum(len(p) for p in parts)

    return run


def end_process(process: Any, queues: Iterable[Any], ask: Callable[[], object]) -> None:
    """Ask a child process to quit (`ask()`), wait for it, end it if it hangs; close `queues`."""
    if process.is_alive():
        ask()
        process.join(timeout=30)
    if process.is_alive():
        process.terminate()
        process.join(timeout=10)
    for q in queues:
        q.close()
        q.join_thread()


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """`items` dealt round-robin into `parts` lists: each writer owns its streams."""
    return [list(items[i::parts]) for i in range(parts)]


# -- SQLite ------------------------------------------------------------------


def sqlite_connect(path: Path | str) -> sqlite3.Connection:
    """A connection with the durability histoire uses by default: WAL + synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def sqlite_pragmas(conn: sqlite3.Connection) -> dict[str, Any]:
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return {
        "journal_mode": journal,
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, sync),
    }


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def filesystem_of(path: Path) -> str:
    """The file system type holding `path` (to warn when fsync is free, e.g. tmpfs)."""
    try:
        best, kind = "", "unknown"
        target = str(path.resolve())
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                mount, fstype = fields[1], fields[2]
                if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(
                    mount
                ) > len(best):
                    best, kind = mount, fstype
        return kind
    except OSError:
        return "unknown"


# -- PostgreSQL --------------------------------------------------------------


def random_schema(prefix: str = "bench") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def pg_parts(url: str) -> dict[str, str]:
    """host, port, user, password, dbname of a postgresql:// URL."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
    }


def pg_connect(url: str, *, autocommit: bool = False) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=autocommit)


def pg_create_schemas(url: str, schemas: Iterable[str]) -> None:
    with pg_connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def pg_drop_schemas(url: str, schemas: Iterable[str]) -> None:
    with pg_connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_settings(url: str) -> dict[str, str]:
    with pg_connect(url, autocommit=True) as conn:
        out = {}
        for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
            out[name] = str(conn.execute(f"SHOW {name}").fetchone()[0])
        return out
