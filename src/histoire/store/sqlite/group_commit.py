"""Group commit: appends arriving together share one transaction and one fsync.

No background thread: a caller that finds no batch running commits its own
append at once, on its own thread, with no hand-off and no queue. Callers that
arrive while a batch runs queue; when it ends, the oldest of them leads the
next batch with every request queued so far, runs them in one transaction and
wakes their callers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class Request(Generic[R]):
    """One caller's work item and, once finished, its outcome."""

    __slots__ = ("args", "error", "finished", "result", "wake")

    def __init__(self, args: Any) -> None:
        self.args = args
        # Only a caller that waits behind a leader needs an Event to sleep on.
        self.wake: threading.Event | None = None
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

    def submit(self, args: Any) -> R:
        """Queue `args`, wait until its batch is committed, return its result."""
        request: Request[R] = Request(args)
        mutex = self._mutex
        with mutex:
            if self._busy:
                request.wake = threading.Event()
                self._queue.append(request)
            else:
                # Nobody commits, so nobody queues: lead a batch of one at once.
                self._busy = True
        if request.wake is None:
            batch = [request]
        else:
            request.wake.wait()
            if request.finished:
                return request.outcome()
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
                if self._queue:
                    successor = self._queue[0].wake
                    assert successor is not None
                    successor.set()
                else:
                    self._busy = False
        return request.outcome()
