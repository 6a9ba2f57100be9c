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

The asyncio store waits the same way, its descriptor registered with the
event loop (`wait_async`) instead of a blocking read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from pathlib import Path

try:  # Linux only (see pyproject)
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - not Linux
    INotify = None

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


class WalWatch:
    """A thread's inotify descriptor on the folder of a SQLite file, for its WAL.

    Kept from one wait to the next (by the store, per thread): closing one
    takes milliseconds, which a follower would pay between a wake and its read.
    """

    def __init__(self, inotify: INotify, wal_name: str) -> None:
        self._inotify = inotify
        self._wal_name = wal_name
        # Closed by close(), or when the thread that kept it ends (it is forgotten then).
        self._closer = weakref.finalize(self, _close, inotify)
        # A descriptor closed while its waiter polls it would be read after its number
        # is reused: close() from another thread defers to the waiter (see _using).
        self._lock = threading.Lock()
        self._waiters = 0
        self._doomed = False

    @classmethod
    def open(cls, database: Path) -> WalWatch | None:
        """A watch on `database`'s WAL, or None where inotify is not available."""
        if INotify is None:
            return None
        try:
            inotify = INotify(nonblocking=True)
        except (OSError, AttributeError):
            return None  # EMFILE: the user's inotify instances are all taken; or no inotify
        folder = database.parent if str(database.parent) else Path(".")
        try:
            inotify.add_watch(folder, flags.MODIFY | flags.CREATE | flags.MOVED_TO)
        except OSError:
            _close(inotify)
            return None
        return cls(inotify, database.name + "-wal")

    def wait(self, seconds: float) -> bool:
        """Whether the WAL was written, before or within `seconds` (every report consumed).

        A watch closed meanwhile reports a write: its waiter then looks, and finds
        its store closed.
        """
        if not self._enter():
            return True
        try:
            written = self._drain(0)
            if written or seconds <= 0:
                return written
            return self._drain(max(1, round(seconds * 1000)))
        finally:
            self._leave()

    async def wait_async(self, seconds: float) -> bool:
        """`wait`, awaited: the descriptor watched by the running event loop."""
        if not self._enter():
            return True
        try:
            return await self._wait_async(seconds)
        finally:
            self._leave()

    def _enter(self) -> bool:
        """Count a waiter in; False if the watch is closed."""
        with self._lock:
            if self._doomed:
                return False
            self._waiters += 1
            return True

    def _leave(self) -> None:
        with self._lock:
            self._waiters -= 1
            last = self._waiters == 0 and self._doomed
        if last:
            self._closer()

    async def _wait_async(self, seconds: float) -> bool:
        written = self._drain(0)
        if written or seconds <= 0:
            return written
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self._inotify.fileno()
        try:
            loop.add_reader(fd, _resolve, readable)
        except NotImplementedError:  # a loop without add_reader: sleep a little instead
            await asyncio.sleep(min(seconds, SETTLE_MAX))
            return self._drain(0)
        try:
            await asyncio.wait((readable,), timeout=seconds)
        finally:
            loop.remove_reader(fd)
            readable.cancel()
        return self._drain(0)

    def _drain(self, timeout_ms: int) -> bool:
        """Whether a report of the WAL came (waiting up to `timeout_ms` for the first)."""
        written = False
        events = self._inotify.read(timeout=timeout_ms)
        while events:
            for event in events:
                if event.mask & flags.Q_OVERFLOW or event.name == self._wal_name:
                    written = True
            events = self._inotify.read(timeout=0)
        return written

    def close(self) -> None:
        """Close the descriptor (slow: the kernel waits for a grace period, ~10 ms); a
        waiter on it closes it when its wait ends."""
        with self._lock:
            self._doomed = True
            if self._waiters:
                return
        self._closer()


def _resolve(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


def _close(inotify: INotify) -> None:
    with contextlib.suppress(OSError):
        inotify.close()


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
        pause = self._settling(left)
        if pause is not None:
            time.sleep(pause)
            self._settled()
        elif self._watch.wait(min(left, SAFETY)):
            self._written(time.monotonic())

    async def wait_async(self, left: float) -> None:
        """`wait`, awaited."""
        pause = self._settling(left)
        if pause is not None:
            await asyncio.sleep(pause)
            self._settled()
        elif await self._watch.wait_async(min(left, SAFETY)):
            self._written(time.monotonic())

    def _settling(self, left: float) -> float | None:
        """Written, not shown yet: the pause before the next look (None: watch instead)."""
        if time.monotonic() < self._settling_until:
            return min(left, self._pause)
        return None

    def _settled(self) -> None:
        self._pause = min(self._pause * 2, SETTLE_MAX)
        if self._watch.wait(0):
            self._written(time.monotonic())

    def _written(self, now: float) -> None:
        self._settling_until = now + SETTLE_FOR
        self._pause = SETTLE_START
