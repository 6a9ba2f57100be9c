"""Group commit: appends arriving together share one transaction and one fsync.

No background thread: a caller that finds no batch running commits its own
append at once, on its own thread, with no hand-off and no queue. Callers that
arrive while a batch runs queue; when it ends, the oldest of them leads the
next batch with every request queued so far, runs them in one transaction and
wakes their callers. An asyncio caller takes the same turns (`enqueue`, then
`lead` when its turn comes), leading on a writer thread of its own
(`sqlite.async_store`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

R = TypeVar("R")


class Wake(Protocol):
    """How a leader wakes a waiting request: a threading.Event, or an asyncio hand-off."""

    def set(self) -> None: ...


class Request(Generic[R]):
    """One caller's work item and, once finished, its outcome."""

    __slots__ = ("args", "error", "finished", "result", "wake")

    def __init__(self, args: Any) -> None:
        self.args = args
        # Only a caller that waits behind a leader needs an Event to sleep on.
        self.wake: Wake | None = None
        self.finished = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def succeed(self, result: R) -> None:
        self.result = result
        self.finished = True

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.finished = True

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommitter(Generic[R]):
    """Runs batches of requests through `run_batch`, one batch at a time.

    `run_batch(requests)` must call `succeed` or `fail` on every request.
    """

    def __init__(self, run_batch: Callable[[list[Request[R]]], None], max_batch: int = 512) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[Request[R]] = []
        self._busy = False
        self._refusal: Callable[[], BaseException] | None = None
        self._closed = threading.Event()

    def submit(self, args: Any) -> R:
        """Queue `args`, wait until its batch is committed, return its result."""
        request: Request[R] = Request(args)
        if not self.enqueue(request, threading.Event):
            assert isinstance(request.wake, threading.Event)
            request.wake.wait()
            if request.finished:
                return request.outcome()
        self.lead(request)
        return request.outcome()

    def enqueue(self, request: Request[R], wake: Callable[[], Wake]) -> bool:
        """True if `request`'s caller must now `lead`: nobody commits, so it leads a
        batch of its own at once, without queueing.

        Otherwise the request queues with `wake()`, which a leader sets once the
        request is finished, or once it is the request's turn to lead (then
        `request.finished` is still False).
        """
        with self._mutex:
            if self._refusal is not None:
                raise self._refusal()
            if not self._busy:
                self._busy = True
                return True
            request.wake = wake()
            self._queue.append(request)
            return False

    def lead(self, request: Request[R]) -> None:
        """Run `request`'s batch (itself alone if it never queued, else the queue's
        head), then hand on to the oldest request queued meanwhile."""
        mutex = self._mutex
        if request.wake is None:
            batch = [request]
        else:
            with mutex:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
        try:
            self._run_batch(batch)
        except BaseException as exc:
            for item in batch:
                if not item.finished:
                    item.fail(exc)
        finally:
            for item in batch:
                if not item.finished:
                    item.fail(RuntimeError("group commit left a request unfinished"))
                if item is not request and item.wake is not None:
                    item.wake.set()
            with mutex:
                self._hand_on()

    def _hand_on(self) -> None:
        """Wake the oldest queued request to lead, or mark the committer idle (under the mutex)."""
        if self._queue:
            successor = self._queue[0].wake
            assert successor is not None
            successor.set()
        else:
            self._busy = False

    def pause(self) -> bool:
        """Wait for the batch under way to end, and start none until `resume` (around a
        fork: no transaction of the writer is open then); False if closed (nothing held)."""
        while True:
            with self._mutex:
                if self._refusal is not None:
                    return False
                if not self._busy:
                    self._busy = True
                    return True
            time.sleep(0.0005)

    def resume(self) -> None:
        """End a `pause`: the requests queued meanwhile go on."""
        with self._mutex:
            self._hand_on()

    def close(self, refusal: Callable[[], BaseException]) -> None:
        """Refuse new requests (raising `refusal()`), and return once the batches
        under way and the requests queued behind them are finished: nothing runs
        a batch afterwards."""
        with self._mutex:
            closing = self._refusal is not None
            self._refusal = refusal
        if closing:  # closed already, or being closed by another thread
            self._closed.wait()
            return
        while True:
            with self._mutex:
                if not self._busy:
                    self._busy = True  # for good: no batch starts any more
                    break
            time.sleep(0.001)
        self._closed.set()
