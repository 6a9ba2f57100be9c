"""Waiting for appends on PostgreSQL from asyncio: one LISTEN connection per store, shared.

A task of the store reads the notifications of its one LISTEN connection and
wakes every waiting task; a wait holds no connection of its own, so that a
cancelled wait has nothing to give back (it only stops waiting). As in the
blocking `listen`, a notified event may still be hidden behind an older
running transaction: the waiter then looks again with the same backoff; the
logic of a wait is the blocking listener's (`listen.waiting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import sql

from histoire.core.errors import StoreError
from histoire.core.recorded import Checkpoint
from histoire.store.postgres.listen import waiting

AsyncConn = psycopg.AsyncConnection[Any]
AsyncHead = Callable[[], Awaitable[tuple[Checkpoint, bool]]]
"""Reads the last visible event's checkpoint, and whether committed events are hidden."""


class AsyncAppendListener:
    """One LISTEN connection per store, opened on the first wait, read by one task."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncConn]],
        channel: str,
        convert: Callable[[BaseException, str], Exception],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._convert = convert
        self._conn: AsyncConn | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._notified = asyncio.Event()
        self._error: Exception | None = None
        self._closed = False

    async def wait(self, after: Checkpoint, timeout: float, head: AsyncHead) -> bool:
        """Wait until `head()` passes `after` or `timeout` seconds pass; whether it did."""
        steps = waiting(tuple(after), time.monotonic() + timeout)  # math.inf: no limit
        await self._listening()  # before reading the head: no notification is lost
        notified = self._notified
        reply: Any = None
        while True:
            try:
                look, seconds = steps.send(reply)
            except StopIteration as done:
                return bool(done.value)
            if look == "head":
                notified = self._notified  # what comes from now on wakes this wait
                reply = await head()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await notified.wait()
            reply = notified.is_set()
            self._check()

    def _check(self) -> None:
        if self._closed:
            raise StoreError("waiting for events: the store is closed")
        if self._error is not None:
            error, self._error = self._error, None
            raise self._convert(error, "waiting for events") from error

    async def _listening(self) -> None:
        self._check()
        if self._task is not None and not self._task.done():
            return
        async with self._starting:
            if self._task is not None and not self._task.done():
                return
            conn = await self._connect()
            try:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error as exc:
                await conn.close()
                raise self._convert(exc, "listening for appends") from exc
            self._conn = conn
            self._task = asyncio.create_task(self._receive(conn), name="histoire-listen")

    async def _receive(self, conn: AsyncConn) -> None:
        try:
            async for _ in conn.notifies():
                self._wake()
        except psycopg.Error as exc:
            if not self._closed:
                self._error = exc
        finally:
            self._conn = None
            await conn.close()
            self._wake()

    def _wake(self) -> None:
        notified, self._notified = self._notified, asyncio.Event()
        notified.set()

    async def close(self) -> None:
        """Close the LISTEN connection; a wait in progress ends with StoreError."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._wake()
