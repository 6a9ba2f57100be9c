"""The SQLite store for asyncio: the same file, writer and group commit, awaited.

Appends join the blocking store's group commit (`group_commit`): when an
async append's turn comes to lead a batch, the batch runs on a writer thread
of this store, and the awaiting task is woken through the loop (a
`loop_bells` Bell: an eventfd that the loop watches, on Linux). Blocking and
async appends to one store share batches. Reads are local lookups and run on
the loop, a batch at a time (`async_blocking`); snapshot writes wait for the
disk, so they go to a thread. A wait for events sleeps as the blocking
store's does (`wal_watch`): on Linux until inotify reports the WAL written,
the descriptor watched by the loop, then it looks at `PRAGMA data_version`
(a look at shared memory) until the commit shows; elsewhere it looks every
`POLL_INTERVAL` seconds.

Cancellation: an append is one SQLite transaction, committed by the writer
thread whether or not its caller still waits: it is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from histoire.core.append_result import AppendResult
from histoire.core.errors import ReadOnlyStoreError, StoreError
from histoire.core.recorded import Checkpoint, NewEvent
from histoire.core.versions import ANY, ExpectedVersion
from histoire.store.async_blocking import AsyncOverBlocking
from histoire.store.checks import validate_append
from histoire.store.loop_bells import Bell, SoonBell, bell_for
from histoire.store.protocol import Snapshot
from histoire.store.read_checks import validate_checkpoint, wait_timeout
from histoire.store.sqlite.group_commit import GroupCommitter, Request
from histoire.store.sqlite.store import POLL_INTERVAL, SQLiteEventStore
from histoire.store.sqlite.wal_watch import WalLooks, WalWatch

__all__ = ["AsyncSQLiteEventStore"]


class _WriterThread:
    """The store's writer thread: runs the batches that async appends lead, in turn.

    A bare thread on a SimpleQueue, not an executor: an async append costs one
    hand-off to it and one back to the loop, and nothing else (no executor
    future, work item or idle-thread accounting on either side). A daemon
    thread: a store never closed does not keep the process alive (an append
    cut short by the process's end is stored whole or not at all).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="histoire-sqlite-writer", daemon=True
        )
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
            # A job records its outcome in its requests and wakes their callers
            # itself; an error past that must not stop the jobs queued behind it
            # (the executor this thread replaces kept such errors in a future
            # nobody read).
            with contextlib.suppress(Exception):
                job()

    def close(self) -> None:
        """Run the jobs already submitted, then end the thread."""
        self._jobs.put(None)
        self._thread.join()


class _Turn:
    """An async append's wake: set by a leader when its batch is done, or when it leads."""

    __slots__ = ("_bell", "_committer", "_done", "_request", "_writer")

    def __init__(
        self,
        committer: GroupCommitter[AppendResult],
        request: Request[AppendResult],
        done: asyncio.Future[None],
        writer: _WriterThread,
        bell: Bell,
    ) -> None:
        self._committer = committer
        self._request = request
        self._writer = writer
        self._done = done
        self._bell = bell

    def set(self) -> None:
        if self._request.finished:
            self._bell.ring(self._done)
        else:  # its turn to lead: on the writer thread, never on the loop
            self._writer.submit(self.lead)

    def lead(self) -> None:
        try:
            self._committer.lead(self._request)
        finally:
            # Complete the caller's future, on its loop: the one hand-off back.
            self._bell.ring(self._done)


class AsyncSQLiteEventStore(AsyncOverBlocking[SQLiteEventStore]):
    """An AsyncEventStore in one SQLite file; the options of SQLiteEventStore.

    Opening reads the file's schema on the calling thread (a few milliseconds).
    """

    live_pace = SQLiteEventStore.live_pace

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self._init(SQLiteEventStore(path, **options))

    @classmethod
    def wrapping(cls, blocking: SQLiteEventStore) -> AsyncSQLiteEventStore:
        """The async store over an open SQLiteEventStore (closed with it)."""
        store = cls.__new__(cls)
        store._init(blocking)
        return store

    def _init(self, blocking: SQLiteEventStore) -> None:
        super().__init__(blocking)
        self._writer = _WriterThread()
        self._watches: list[WalWatch] = []  # idle ones: each waiter on the loop takes its own
        self._bell: Bell | None = None  # wakes the tasks of one loop (`_bell_for`)
        self._bell_lock = threading.Lock()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        store = self.blocking
        if store.read_only:
            raise ReadOnlyStoreError(store.url, f"appending to {stream_id}")
        validate_append(stream_id, events, expected_version, store.max_event_size, ids=False)
        if store.closed:
            raise StoreError(f"{store.url}: the store is closed")
        committer = store.committer
        request: Request[AppendResult] = Request((stream_id, events, expected_version))
        loop = asyncio.get_running_loop()
        bell = self._bell
        if bell is None or bell.loop is not loop:
            bell = self._bell_for(loop)
        done = loop.create_future()
        turn = _Turn(committer, request, done, self._writer, bell)
        if committer.enqueue(request, lambda: turn):
            self._writer.submit(turn.lead)
        # A cancelled caller cancels only `done`: the batch finishes (whole) on the
        # writer thread, and a turn to lead is taken there whether or not anyone waits.
        await done
        return request.outcome()

    def _bell_for(self, loop: asyncio.AbstractEventLoop) -> Bell:
        """The Bell that wakes appends awaited on `loop`.

        The store keeps one, for the last loop that appended; a store used from
        two live loops at once wakes the second one's tasks through
        `call_soon_threadsafe`.
        """
        with self._bell_lock:  # two loops in two threads may both find the bell stale
            bell = self._bell
            if bell is not None and bell.loop is loop:
                return bell
            if bell is not None and not bell.loop.is_closed():
                return SoonBell(loop)
            if bell is not None:
                bell.close()
            self._bell = bell = bell_for(loop)
            return bell

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        await asyncio.to_thread(self.blocking.save_snapshot, snapshot)

    async def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        position = validate_checkpoint(after).position
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_timeout(timeout)
        store = self.blocking
        watch = self._watches.pop() if self._watches else WalWatch.open(store.path)
        try:
            # Watching before the head is read: a commit after the read writes the WAL.
            looks = None if watch is None else WalLooks(watch)
            seen = store.data_version()
            if store.head().position > position:
                return True
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    return False
                if looks is None:
                    await asyncio.sleep(min(left, POLL_INTERVAL))
                else:
                    await looks.wait_async(left)
                past, seen = store.look(position, seen)
                if past:
                    return True
        finally:
            if watch is not None:
                self._watches.append(watch)

    async def aclose(self) -> None:
        watches, self._watches = self._watches, []
        for watch in watches:
            watch.close()
        # The store first: it waits for the appends under way, whose turns to
        # lead run on the writer thread.
        self.blocking.close()
        self._writer.close()
        # Last: nothing rings once the store and its writer thread are closed.
        bell, self._bell = self._bell, None
        if bell is not None:
            bell.close()
