"""Waiting for appends on PostgreSQL: LISTEN on the store's channel, no busy poll.

`append_events` sends NOTIFY at commit. A committed event may not be
readable yet: followers only see transactions below the oldest one still
running (the horizon). While committed events are hidden that way, the waiter
looks again with a short backoff (0.2 ms, growing by half to 50 ms) instead of
sleeping until the next notification, which may never come if the transaction
holding the horizon back writes no events.

A notification that arrives while the log looked settled (nothing hidden at
the last look) ends the wait at once, without reading the head again: the
follower's next read settles what it announced (`read_log` waits for events
committed before it to show), one round trip less between an append and its
view. The logic is `waiting`, shared with the asyncio listener.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import psycopg
from psycopg import sql

from histoire.core.errors import StoreError
from histoire.core.recorded import Checkpoint

Conn = psycopg.Connection[Any]
Head = Callable[[], tuple[Checkpoint, bool]]
"""Reads the last visible event's checkpoint, and whether committed events are hidden."""
Look = tuple[str, float]
"""What a wait asks for: ("head", 0.0), answered by `Head`'s result, or ("receive",
seconds): wait that long for a notification, answered by whether one came."""
HEAD: Look = ("head", 0.0)


def waiting(after: tuple[Any, ...], deadline: float) -> Generator[Look, Any, bool]:
    """A wait's logic, free of I/O: whether an event past `after` may be readable
    before `deadline` (`time.monotonic()`). The blocking and asyncio listeners drive it;
    they listen before the first look, so that no notification is lost."""
    pause = POLL_START
    while True:
        last, hidden = yield HEAD
        if last > after:
            return True
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            notified = yield ("receive", min(left, pause) if hidden else left)
            if hidden:  # look again, notified or not: the horizon moves without notice
                pause = min(pause * POLL_GROWTH, POLL_MAX)
                break
            if notified:
                return True


POLL_START = 0.0002
POLL_GROWTH = 1.5
POLL_MAX = 0.05
CLOSE_CHECK = 0.25
"""A wait wakes this often to see whether the store was closed meanwhile."""


class AppendListener:
    """One dedicated LISTEN connection per store, opened on the first wait."""

    def __init__(
        self,
        connect: Callable[[], Conn],
        channel: str,
        convert: Callable[[BaseException, str], Exception],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._convert = convert
        self._conn: Conn | None = None
        self._lock = threading.Lock()
        self._closed = False

    def wait(self, after: Checkpoint, timeout: float, head: Head) -> bool:
        """Block until `head()` passes `after` or `timeout` seconds pass; whether it did."""
        timeout = max(timeout, 0.0)  # math.inf: no limit
        deadline = time.monotonic() + timeout
        mark = tuple(after)
        if not self._lock.acquire(timeout=-1 if math.isinf(timeout) else timeout):
            return head()[0] > mark
        try:
            return self._wait(mark, deadline, head)
        finally:
            self._lock.release()

    def _wait(self, after: tuple[Any, ...], deadline: float, head: Head) -> bool:
        conn = self._listening()  # before reading the head: no notification is lost
        steps = waiting(after, deadline)
        reply: Any = None
        while True:
            try:
                look, seconds = steps.send(reply)
            except StopIteration as done:
                return bool(done.value)
            if look == "head":
                reply = head()
                continue
            try:
                reply = self._receive(conn, seconds)
            except psycopg.Error as exc:
                self._drop()
                if self._closed:
                    raise StoreError("waiting for events: the store is closed") from exc
                raise self._convert(exc, "waiting for events") from exc
            if self._closed:
                raise StoreError("waiting for events: the store is closed")

    def _receive(self, conn: Conn, seconds: float) -> bool:
        """Whether a notification came within `seconds` (False soon after close())."""
        end = time.monotonic() + seconds
        while not self._closed:
            left = min(end - time.monotonic(), CLOSE_CHECK)
            if left <= 0:
                return False
            for _ in conn.notifies(timeout=left, stop_after=1):
                return True
        return False

    def _listening(self) -> Conn:
        if self._closed:
            raise StoreError("waiting for events: the store is closed")
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            try:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error as exc:
                conn.close()
                raise self._convert(exc, "listening for appends") from exc
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the LISTEN connection; a wait in progress ends with StoreError."""
        self._closed = True
        if self._lock.acquire(timeout=CLOSE_CHECK + 1.0):
            try:
                self._drop()
            finally:
                self._lock.release()
        else:
            self._drop()
