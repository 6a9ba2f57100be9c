"""Waiting for writes to a SQLite file's WAL without polling: inotify, on Linux.

Every commit in WAL mode writes its pages to the `-wal` file (a `write()`,
which inotify reports) before it makes them visible (the WAL index in shared
memory, which it does not report). A waiter therefore sleeps on an inotify
descriptor watching the file's folder, wakes when the WAL is written, and then
looks at `PRAGMA data_version` until the commit shows (shortly: after the
writer's fsync). The folder is watched rather than the file, so that a WAL
deleted and created again (the last connection closed meanwhile) is still
seen. Where inotify is missing (not Linux) or refused (too many instances),
`WalWatch.open` returns None and the store polls instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import struct
import sys
import time
import weakref
from pathlib import Path

SETTLE_START = 0.0001
SETTLE_MAX = 0.001
"""After the WAL is written, the waiter looks for the commit after 0.1 ms, doubling to 1 ms..."""
SETTLE_FOR = 0.05
"""...for this long after the last write: the commit shows once the writer's fsync is done. A
change of data_version does not end it: a writer that starts the WAL over changes the WAL
index's header (so data_version) before its commit shows."""
SAFETY = 0.1
"""The longest sleep on the watch: a look at data_version now and then, in case a report is
missed (a WAL replaced by a file moved in from elsewhere)."""

IN_MODIFY = 0x00000002
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """libc's inotify functions, loaded on first use (None where there are none)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class WalWatch:
    """A thread's inotify descriptor on the folder of a SQLite file, for its WAL.

    Kept from one wait to the next (by the store, per thread): closing one
    takes milliseconds, which a follower would pay between a wake and its read.
    """

    def __init__(self, fd: int, wal_name: bytes) -> None:
        self._fd = fd
        self._wal_name = wal_name
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        # Closed by close(), or when the thread that kept it ends (it is forgotten then).
        self._closer = weakref.finalize(self, _close, fd)

    @classmethod
    def open(cls, database: Path) -> WalWatch | None:
        """A watch on `database`'s WAL, or None where inotify is not available."""
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return None  # EMFILE: the user's inotify instances are all taken
        folder = os.fsencode(database.parent if str(database.parent) else Path("."))
        mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO
        if libc.inotify_add_watch(fd, folder, mask) < 0:
            os.close(fd)
            return None
        return cls(fd, os.fsencode(database.name) + b"-wal")

    def wait(self, seconds: float) -> bool:
        """Whether the WAL was written, before or within `seconds` (every report consumed)."""
        written = self._drain()
        if written or seconds <= 0:
            return written
        if not self._poll.poll(max(1, round(seconds * 1000))):
            return False
        return self._drain()

    def _drain(self) -> bool:
        written = False
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return written
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0")
                offset = start + length
                if mask & IN_Q_OVERFLOW or name == self._wal_name:
                    written = True

    def close(self) -> None:
        """Close the descriptor (slow: the kernel waits for a grace period, ~10 ms)."""
        self._closer()


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class WalLooks:
    """When a waiter looks at data_version: once the WAL is written, then until the commit shows.

    Made before the waiter's first look: the reports of the writes before it
    are taken then, and a write among them may not have shown yet, so the
    looks begin as after a write if there was one.
    """

    def __init__(self, watch: WalWatch) -> None:
        self._watch = watch
        self._pause = SETTLE_START
        self._settling_until = 0.0
        if watch.wait(0):
            self._written(time.monotonic())

    def wait(self, left: float) -> None:
        """Sleep until the next look (at most `left` seconds)."""
        now = time.monotonic()
        if now < self._settling_until:  # written, not shown yet: look again soon
            time.sleep(min(left, self._pause))
            self._pause = min(self._pause * 2, SETTLE_MAX)
            if self._watch.wait(0):
                self._written(time.monotonic())
        elif self._watch.wait(min(left, SAFETY)):
            self._written(time.monotonic())

    def _written(self, now: float) -> None:
        self._settling_until = now + SETTLE_FOR
        self._pause = SETTLE_START
