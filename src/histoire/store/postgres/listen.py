"""Waiting for appends on PostgreSQL: LISTEN on the store's channel, no busy poll.

`append_events` sends NOTIFY at commit. A committed event may not be
readable yet: followers only see transactions below the oldest one still
running (the horizon). While committed events are hidden that way, the waiter
looks again with a short backoff (1 ms doubling to 50 ms) instead of sleeping
until the next notification, which may never come if the transaction holding
the horizon back writes no events.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from histoire.core.errors import StoreError
from histoire.core.recorded import Checkpoint

Conn = psycopg.Connection[Any]
Head = Callable[[], tuple[Checkpoint, bool]]
"""Reads the last visible event's checkpoint, and whether committed events are hidden."""

POLL_START = 0.001
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
        pause = POLL_START
        while True:
            last, hidden = head()
            if last > after:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._receive(conn, min(left, pause) if hidden else left)
            except psycopg.Error as exc:
                self._drop()
                if self._closed:
                    raise StoreError("waiting for events: the store is closed") from exc
                raise self._convert(exc, "waiting for events") from exc
            if self._closed:
                raise StoreError("waiting for events: the store is closed")
            pause = min(pause * 2, POLL_MAX) if hidden else POLL_START

    def _receive(self, conn: Conn, seconds: float) -> None:
        """Return at the first notification, after `seconds`, or soon after close()."""
        end = time.monotonic() + seconds
        while not self._closed:
            left = min(end - time.monotonic(), CLOSE_CHECK)
            if left <= 0:
                return
            for _ in conn.notifies(timeout=left, stop_after=1):
                return

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
