"""W12: the W2 appends on a SQLite file, with and without a live projection in another process.

On SQLite the projection's transactions take the file's one writer lock, as
appends do. The projection process (the balances projection of W10, a
handler call per event, `ProjectionRunner.run(live=True)`, as `histoire
projections run` would) is started once per round and caught up before the
clock; then the round's W2 deposits (one per account, each on its own
account) are split into segments that alternate between the projection
paused (its process idle: "off") and running live ("on"; resumed and caught
up before the segment's clock starts). Alternating segments, rather than one
run of each, keeps a noisy neighbour from favouring one side. Each side's
throughput is its deposits over its segments' time. How far the view is
behind when an "on" segment ends (in events) is recorded too: a projection
that never got the writer lock would cost the appends nothing.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from typing import Any

from benchmarks.common import end_process
from histoire import EventStore, open_store
from histoire.app.projections import ProjectionRunner, projection_status, wait_for_projection

NAME = "balances"
TIMEOUT = 120.0
"""Seconds the projection process may take to start, catch up, pause or stop."""


def _projection_process(url: str, inbox: Any, outbox: Any) -> None:
    from benchmarks.projections_histoire import balances_projection, bank_codec

    store = open_store(url)
    runner = ProjectionRunner(store, balances_projection(NAME, "event"), codec=bank_codec())
    stop = threading.Event()
    thread: threading.Thread | None = None
    failures: list[str] = []

    def follow() -> None:
        try:
            report = runner.run(live=True, stop=stop)
            if report.failure is not None:
                failures.append(str(report.failure))
        except BaseException as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    try:
        while True:
            command = inbox.get()
            if thread is not None:  # "pause" and "quit" both stop the live run first
                stop.set()
                thread.join()
                thread = None
            if failures:
                outbox.put(("error", failures[0]))
                return
            if command == "run":
                stop.clear()
                thread = threading.Thread(target=follow, daemon=True)
                thread.start()
            outbox.put(("ok",))
            if command == "quit":
                return
    finally:
        store.close()


class ProjectionProcess:
    """The balances projection in its own process: run (live), pause, quit."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        ctx = multiprocessing.get_context("spawn")
        self.inbox: Any = ctx.Queue()
        self.outbox: Any = ctx.Queue()
        self.process = ctx.Process(
            target=_projection_process,
            args=(store.url, self.inbox, self.outbox),
            name="bench-projection",
            daemon=True,
        )
        self._stopped = False

    def start(self) -> None:
        """Start the process, let it catch up, pause it."""
        self.process.start()
        self.resume()
        self.pause()

    def resume(self) -> None:
        """Run live again, and wait until it has caught up with the log's head."""
        self._command("run")
        head = self.store.head()
        deadline = time.monotonic() + TIMEOUT
        while not wait_for_projection(self.store, NAME, head, timeout=0.5):
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise TimeoutError(f"the projection process did not catch up with {head}")

    def lag(self) -> int:
        """Events of the log past the projection's checkpoint."""
        return max(status.lag_events for status in projection_status(self.store, NAME))

    def pause(self) -> None:
        """Stop its live run (it finishes its batch); the process then waits, idle."""
        self._command("pause")

    def _command(self, command: str) -> None:
        self.inbox.put(command)
        try:
            reply = self.outbox.get(timeout=TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"the projection process did not answer {command!r}") from None
        if reply[0] == "error":
            raise RuntimeError(f"the projection process failed: {reply[1]}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        end_process(self.process, (self.inbox, self.outbox), lambda: self.inbox.put("quit"))
