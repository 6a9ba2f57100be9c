"""Completing futures of an event loop from other threads, with one eventfd per loop.

`loop.call_soon_threadsafe` costs each wake a Handle (with a copy of the
context), a lock and a send on the loop's self-pipe; the loop then reads the
pipe until a read raises BlockingIOError, an exception built (its message
decoded from the locale) at every wake. A thread that only has to complete a
future can do less: on Linux an `EventfdBell` is an eventfd watched by the
loop; a thread queues the future and writes the eventfd, and the loop reads it
once and completes every future queued. A round trip loop -> thread -> loop:
63.7k -> 45.5k instructions (callgrind).

Elsewhere (no `os.eventfd`), or on a loop that cannot watch a descriptor
(Windows' proactor loop), `SoonBell` falls back to `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
from typing import Protocol

__all__ = ["Bell", "EventfdBell", "SoonBell", "bell_for"]


class Bell(Protocol):
    """Completes futures of one loop, from any thread."""

    loop: asyncio.AbstractEventLoop

    def ring(self, future: asyncio.Future[None]) -> None:
        """Complete `future` (with None) on its loop, soon; nothing if it is done by then."""

    def close(self) -> None:
        """Stop watching, once the futures rung so far are completed; later rings do nothing."""


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled caller's future is done already
        future.set_result(None)


class SoonBell:
    """A Bell through `call_soon_threadsafe`: for any loop."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def ring(self, future: asyncio.Future[None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(_settle, future)

    def close(self) -> None:
        pass


class EventfdBell:
    """A Bell on an eventfd that its loop watches (Linux)."""

    __slots__ = ("_fd", "_lock", "_rung", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._rung: collections.deque[asyncio.Future[None]] = collections.deque()
        # Held to write and to close: a ring never writes to a descriptor closed
        # meanwhile (and perhaps reused by another file).
        self._lock = threading.Lock()
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            loop.add_reader(self._fd, self._answer)
        except BaseException:
            os.close(self._fd)
            raise

    def ring(self, future: asyncio.Future[None]) -> None:
        # Queued before the write: the loop's read comes before its drain, so
        # a future queued after a drain is followed by a write it will see.
        self._rung.append(future)
        with self._lock:
            if self._fd >= 0:
                os.eventfd_write(self._fd, 1)

    def _answer(self) -> None:
        with contextlib.suppress(BlockingIOError):  # rung and drained already
            os.eventfd_read(self._fd)
        self._drain()

    def _drain(self) -> None:
        rung = self._rung
        while rung:
            _settle(rung.popleft())

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd < 0:
            return
        loop = self.loop
        if loop.is_closed():
            os.close(fd)
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._forget(fd)
            return
        try:  # remove_reader belongs to the loop's own thread
            loop.call_soon_threadsafe(self._forget, fd)
        except RuntimeError:  # closed meanwhile
            os.close(fd)

    def _forget(self, fd: int) -> None:
        # What was rung before the close is answered: the store closes its bell
        # on the loop, after appends that the loop has not yet seen end.
        self._drain()
        self.loop.remove_reader(fd)
        os.close(fd)


def bell_for(loop: asyncio.AbstractEventLoop) -> Bell:
    """The cheapest Bell that `loop` supports."""
    if hasattr(os, "eventfd"):
        with contextlib.suppress(NotImplementedError):  # a loop that watches no descriptor
            return EventfdBell(loop)
    return SoonBell(loop)
