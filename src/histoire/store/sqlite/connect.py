"""Opening an SQLite store's connections: URL options, read-write and read-only files.

A read-only store never writes, and never leaves a file behind that it
created. SQLite's `mode=ro` alone is not enough: a WAL database opened that
way creates the `-wal` and `-shm` files when they are missing (and fails in a
read-only folder). So:

- when a `-wal` file exists, a writer has the database open (or left its
  journal): read through it with `mode=ro`, using the files that are there;
- when none exists, everything is in the database file: open it with
  `immutable=1`, which reads the file alone and creates nothing. Should a
  writer appear later (a `-wal` shows, or the file changes), the store sees
  it on its next read and reopens with `mode=ro` (`FileStamp`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

from histoire.core.errors import InvalidStoreURLError
from histoire.store.sqlite.db_config import disable_triggers
from histoire.store.sqlite.errors import DRIVER_ERRORS, convert, is_busy

Durability = Literal["full", "fast"]


def sqlite_path_from_url(url: str) -> str:
    """The file path of `sqlite:///relative.db` or `sqlite:////absolute/path.db`."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidStoreURLError(url, "an SQLite URL has no host: use sqlite:///PATH")
    path = unquote(parts.path)
    if path.startswith("/"):
        path = path[1:]
    if not path:
        raise InvalidStoreURLError(
            url, "no file path; use sqlite:///PATH (relative) or sqlite:////PATH"
        )
    return path


def _query(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[-1] if values else None


def durability_from_url(url: str) -> Durability:
    """The `durability` query parameter of an SQLite URL (default full)."""
    value = _query(url, "durability") or "full"
    if value not in ("full", "fast"):
        raise InvalidStoreURLError(url, f"durability must be 'full' or 'fast', not {value!r}")
    return value  # type: ignore[return-value]


def options_from_url(url: str) -> dict[str, Any]:
    """The store options an SQLite URL gives: `durability`, `mode=ro`, `max_event_size`."""
    options: dict[str, Any] = {"durability": durability_from_url(url)}
    mode = _query(url, "mode")
    if mode is not None:
        if mode not in ("ro", "rw"):
            raise InvalidStoreURLError(url, f"mode must be 'ro' (read-only) or 'rw', not {mode!r}")
        options["read_only"] = mode == "ro"
    size = _query(url, "max_event_size")
    if size is not None:
        if not size.isdigit():
            raise InvalidStoreURLError(
                url, f"max_event_size must be a number of bytes, not {size!r}"
            )
        options["max_event_size"] = int(size)
    return options


def connect_read_write(
    path: Path, durability: Durability, lock_timeout: float
) -> sqlite3.Connection:
    """A connection that may write: WAL journal, `synchronous` as `durability` says."""
    sync = "FULL" if durability == "full" else "NORMAL"
    conn = _connect(
        path,
        f"opening {path}",
        f"PRAGMA busy_timeout={int(lock_timeout * 1000)}",
        f"PRAGMA synchronous={sync}",
    )
    # Switching to WAL takes an exclusive lock that SQLite refuses at once, without
    # its busy handler, while another connection uses the file: several processes
    # opening a new file together failed with "database is locked". Switch only a
    # file that is not WAL yet, and try again until `lock_timeout`.
    deadline = time.monotonic() + lock_timeout
    pause = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return conn
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                conn.close()
                raise convert(exc, f"opening {path}") from exc
        except DRIVER_ERRORS as exc:
            conn.close()
            raise convert(exc, f"opening {path}") from exc
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _connect(target: str | Path, doing: str, *pragmas: str) -> sqlite3.Connection:
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            target,
            uri=isinstance(target, str),
            isolation_level=None,
            check_same_thread=False,
        )
        for pragma in pragmas:
            conn.execute(pragma).fetchall()
    except DRIVER_ERRORS as exc:
        if conn is not None:
            conn.close()
        raise convert(exc, doing) from exc
    return conn


def skip_triggers(conn: sqlite3.Connection) -> bool:
    """Turn triggers off on `conn` alone (Python 3.12+; 3.11: `db_config`); whether it did.

    For the store's writer: it runs nothing but plain INSERTs of new rows,
    which abort on any conflict, so the immutability triggers (they refuse
    other connections' UPDATE, DELETE and INSERT OR REPLACE) cannot refuse
    anything of it, yet a BEFORE INSERT trigger costs every row a sub-program
    and its lookups, and a multi-row INSERT a temporary table.
    """
    setconfig = getattr(conn, "setconfig", None)
    option = getattr(sqlite3, "SQLITE_DBCONFIG_ENABLE_TRIGGER", None)
    if setconfig is None or option is None:
        return disable_triggers(conn)
    setconfig(option, False)
    return True


class FileStamp(NamedTuple):
    """What an immutable connection assumed of the files: no `-wal`; this file, size, time."""

    wal: bool
    inode: int
    size: int
    mtime_ns: int


def file_stamp(path: Path) -> FileStamp:
    """The database file's stamp now (a missing file stamps as empty)."""
    wal = os.path.exists(f"{path}-wal")
    try:
        found = os.stat(path)
    except OSError:
        return FileStamp(wal, -1, -1, -1)
    return FileStamp(wal, found.st_ino, found.st_size, found.st_mtime_ns)


def connect_read_only(
    path: Path, lock_timeout: float
) -> tuple[sqlite3.Connection, FileStamp | None]:
    """A connection that cannot write, and the stamp it relies on (None: it follows writers).

    See the module's docstring for why `immutable=1` when no `-wal` exists.
    """
    stamp = file_stamp(path)
    flags = "mode=ro" if stamp.wal else "mode=ro&immutable=1"
    conn = _connect(
        f"file:{quote(os.fspath(path))}?{flags}",
        f"opening {path} read-only",
        f"PRAGMA busy_timeout={int(lock_timeout * 1000)}",
        "PRAGMA query_only=ON",
    )
    return conn, (None if stamp.wal else stamp)


class Connections:
    """The connections of one store: the writer's, and one per reading thread."""

    def __init__(
        self, path: Path, durability: Durability, lock_timeout: float, read_only: bool
    ) -> None:
        self._path = path
        self._durability = durability
        self._lock_timeout = lock_timeout
        self._read_only = read_only
        # Each connection with the thread it serves (None: the writer, closed by the store).
        self._open: list[tuple[sqlite3.Connection, threading.Thread | None]] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def open(self) -> sqlite3.Connection:
        """A new connection (read-only for a read-only store), for the store's writer:
        closed by `close_writer`."""
        return self._open_stamped(None)[0]

    def _open_stamped(
        self, thread: threading.Thread | None
    ) -> tuple[sqlite3.Connection, FileStamp | None]:
        stamp: FileStamp | None = None
        if self._read_only:
            conn, stamp = connect_read_only(self._path, self._lock_timeout)
        else:
            conn = connect_read_write(self._path, self._durability, self._lock_timeout)
        with self._lock:
            self._open.append((conn, thread))
        return conn, stamp

    def reader(self) -> sqlite3.Connection:
        """This thread's connection for reads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        stamp: FileStamp | None = getattr(self._local, "stamp", None)
        if conn is not None and stamp is not None and file_stamp(self._path) != stamp:
            # Opened immutable on an idle file, and a writer came since: reopen
            # so that its changes show (and are not read half-written).
            self._forget(conn)
            conn = None
        if conn is None:
            conn, self._local.stamp = self._open_stamped(threading.current_thread())
            self._local.conn = conn
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._open = [(kept, thread) for kept, thread in self._open if kept is not conn]
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close_mine(self) -> None:
        """Close this thread's connection for reads, if it has one."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            self._forget(conn)

    def close(self, writer: sqlite3.Connection | None) -> None:
        """Close the writer (its user done with it) and the connections for reads that
        no other thread may be using: this thread's and those of threads that ended.

        Closing a connection while another thread runs a statement on it crashes
        the process (the driver frees what that thread is using), so a live
        thread's connection is left to it: it closes it at its next read, which
        then fails (`close_mine`), or when it ends (its thread-local goes).
        """
        me = threading.current_thread()
        with self._lock:
            connections, self._open = self._open, []
        for conn, thread in connections:
            if conn is writer or thread is me or (thread is not None and not thread.is_alive()):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
