"""Taking turns between processes that write to one SQLite file.

SQLite's write lock is not fair. A writer that finds it taken sleeps and tries
again, while the holder, once committed, takes it again within microseconds:
the waiter only wins if it wakes in that gap. Two processes appending in a
loop to one file handed the lock over 1 to 16 times in 4,000 appends; one of
them waited for almost the whole run. Taking turns, they hand it over 260 to
700 times, and neither writes more than about 80 events in a row while the
other waits.

So a waiting writer says that it waits, and a writer whose turn has lasted
`TURN` seconds steps aside when another one waits:

- a writer that finds the lock taken holds a shared `flock` on the file
  `<database>-writers` for as long as it retries (see `POLL`);
- before each transaction, a writer whose turn is over tries an exclusive
  `flock` on that file without blocking: if that fails, someone waits, and it
  pauses until the waiter has taken the lock (at most `STEP_ASIDE` seconds)
  before taking it again, which it then usually has to wait for in turn.

`flock` locks belong to an open file, so two stores of one process take turns
too. The file is created the first time a writer has to wait, and never
deleted (deleting a lock file is a race); without `flock` (Windows) writers
do not take turns. This is no queue: with many processes, who comes next is
not first come first served, but nobody keeps the lock for long while others
wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TURN: Final = 0.02
"""How long a writer may keep the lock, transaction after transaction, while others wait.

Each hand-over costs the next writer a wake-up and a cold page cache: on a
busy 2-CPU machine, two writers taking turns of 5 ms were up to 1.5 times
slower than with turns of 20 ms."""
STEP_ASIDE: Final = 0.05
"""How long a writer waits, at most, for a waiting writer to take the lock."""
POLL: Final = (0.0001, 0.001)
"""A waiting writer tries again after 0.1 ms, then twice as long each time up to 1 ms."""
IGNORE: Final = 0.25
"""How long a writer stops stepping aside after a waiter did not come (stopped, say)."""
IDLE: Final = 0.002
"""A writer that took no lock for this long starts a new turn."""


class WriterTurns:
    """One store's side of the turn taking on its database file."""

    def __init__(self, database: Path) -> None:
        self._path = Path(f"{database}-writers")
        self._fd: int | None = None
        self._turn_started: float | None = None
        self._last_end = 0.0
        self._ignore_until = 0.0
        self._next_look = 0.0

    def begin(self, try_lock: Callable[[], bool], deadline: float) -> bool:
        """Take the write lock with `try_lock` (True if taken), fairly; False at `deadline`."""
        now = time.monotonic()
        if self._turn_started is not None and now - self._last_end > IDLE:
            self._turn_started = None
        if (
            self._turn_started is not None
            and now - self._turn_started >= TURN
            and now >= self._ignore_until
            and self._others_waiting()
        ):
            self._step_aside()
        if not try_lock():
            flagged = self._flag(fcntl.LOCK_SH if fcntl is not None else 0)
            try:
                pause = POLL[0]
                while not try_lock():
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(pause)
                    pause = min(pause * 2, POLL[1])
            finally:
                if flagged:
                    self._flag(fcntl.LOCK_UN)
            self._turn_started = None
        if self._turn_started is None:
            self._turn_started = time.monotonic()
        return True

    def ended(self) -> None:
        """Note that the transaction begun last has ended (committed or rolled back)."""
        self._last_end = time.monotonic()

    def _step_aside(self) -> None:
        self._turn_started = None
        until = time.monotonic() + STEP_ASIDE
        pause = POLL[0]
        while self._others_waiting():
            if time.monotonic() > until:
                # The waiter does not come (stopped, or waiting for something
                # else): stop stepping aside for it for a while.
                self._ignore_until = time.monotonic() + IGNORE
                return
            time.sleep(pause)
            pause = min(pause * 2, POLL[1])

    def _flag(self, operation: int) -> bool:
        """Take or drop the "I am waiting" lock; whether it could be done."""
        fd = self._file(create=True)
        if fd is None:
            return False
        try:
            fcntl.flock(fd, operation)
        except OSError:  # closed meanwhile by close(): wait without taking turns
            return False
        return True

    def _others_waiting(self) -> bool:
        fd = self._file(create=False)
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def _file(self, *, create: bool) -> int | None:
        if self._fd is None and fcntl is not None:
            if not create and time.monotonic() < self._next_look:
                return None
            flags = os.O_RDONLY | (os.O_CREAT if create else 0)
            try:
                self._fd = os.open(self._path, flags, 0o644)
            except OSError:
                # No waiter ever made it: look again later, not at every transaction.
                self._next_look = time.monotonic() + 0.05
                return None
        return self._fd

    def close(self) -> None:
        """Close the turn file (its locks go with it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
