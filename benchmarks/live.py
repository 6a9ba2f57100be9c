"""W11: latency from an append in ANOTHER process to the view updated, live.

The projection runs live in a thread of the benchmark process; a separate
appender process (multiprocessing, spawn) appends one event per call to one
stream. The latency runs from the append's acknowledgement to the view's
commit: the appender takes the wall clock (`time.time_ns()`) as each append
call returns (the event is durable and visible to others from then on) and
sends these times back with its reply; the projection side takes the clock
once the event's row is committed (histoire: the runner's `on_batch`
callback, called after the batch's commit; eventsourcing: right after its
view's transaction): nothing polls for the view to change, the latency is
measured where it ends. Both sides read the same system clock. A view may
commit before the appender's call has returned (the follower saw the commit
first): that latency counts as 0. The time each event was sent (taken just
before the append, carried by the event: histoire in its metadata,
eventsourcing in the domain event's own `timestamp`) gives the latency from
the start of the append too, reported beside it.

Per measurement: the stream's first event (the warm-up) reaches the view
before the clock; then `count` events at a steady `rate` (paced; the appender
never bursts to catch up), then as many as the appender manages in
`fast_seconds` (one append at a time, each its own durable commit: the
highest rate one writer sustains); then, with nothing appended, the CPU the
benchmark process (the idle live projection) uses over `idle_seconds`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.common import end_process
from benchmarks.pg_follow import Latencies

WAIT_SECONDS = 30.0
"""How long the view may take to show the warm-up event, or the last events."""
START_SECONDS = 120.0
"""How long the appender process may take to start (spawn, imports, opening its store)."""
SETTLE_SECONDS = 0.5
"""Pause before the idle measurement (the last batch's commit, a heartbeat in flight)."""


@dataclass
class Appender:
    """What the appender process does: one event (warm-up) to open the stream, then one per call."""

    open_stream: Callable[[], object]
    append: Callable[[], object]
    close: Callable[[], object]


class Collector:
    """When the view committed each event, by stream version, and when it was sent."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.committed_ns: dict[int, int] = {}
        self.sent_ns: dict[int, int | None] = {}
        self._highest = 0

    def add(self, version: int, sent_ns: int | None, now_ns: int) -> None:
        with self._changed:
            self.committed_ns[version] = now_ns
            self.sent_ns[version] = sent_ns
            self._highest = max(self._highest, version)
            self._changed.notify_all()

    def wait_for(self, version: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._highest >= version, timeout)

    def take(self, first: int, acked_ns: list[int], seconds: float) -> tuple[Latencies, Latencies]:
        """(latencies from each append's acknowledgement, from its start), of the events
        of versions first.. appended one by one, acknowledged at `acked_ns`."""
        versions = range(first, first + len(acked_ns))
        missing = [v for v in versions if v not in self.committed_ns]
        if missing:
            raise AssertionError(f"the view never showed {len(missing)} of {len(acked_ns)} events")
        done, sent = self.committed_ns, self.sent_ns
        from_ack = [max(0, done[v] - a) for v, a in zip(versions, acked_ns, strict=True)]
        from_send = [done[v] - (sent[v] or done[v]) for v in versions]
        return Latencies(from_ack, seconds), Latencies(from_send, seconds)


class LiveSide(Protocol):
    """One system's live projection, and how to make its appender in another process."""

    appender: tuple[Callable[..., Appender], tuple[Any, ...]]
    """A module-level function making the Appender (in the child process), and its arguments."""

    def start(self, collector: Collector) -> None:
        """Run the projection live in the background; it reports each applied event."""

    def stop(self) -> None: ...


class FollowThread:
    """A LiveSide's follower thread: `follow(stop)` runs until `stop` is set; its error is kept."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def _start_thread(self, name: str, follow: Callable[[threading.Event], None]) -> None:
        def run() -> None:
            try:
                follow(self._stop)
            except BaseException as exc:
                self.errors.append(exc)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.errors:
            raise self.errors[0]


@dataclass
class LiveResult:
    paced: Latencies
    fast: Latencies
    idle_cpu: float | None
    paced_from_send: Latencies
    fast_from_send: Latencies
    """CPU seconds per second of this process while the projection followed an idle log."""


# -- the appender process ----------------------------------------------------------------


def _appender_process(
    setup: Callable[..., Appender], args: tuple[Any, ...], inbox: Any, outbox: Any
) -> None:
    appender: Appender | None = None
    try:
        appender = setup(*args)
        outbox.put(("ready",))
        while True:
            command = inbox.get()
            if command[0] == "stop":
                return
            started = time.perf_counter()
            acked: list[int] = []  # the wall clock as each append returned
            if command[0] == "open":
                appender.open_stream()
                acked.append(time.time_ns())
            elif command[0] == "paced":
                _, rate, count = command
                period, next_at = 1.0 / rate, started
                for _ in range(count):
                    pause = next_at - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    appender.append()
                    acked.append(time.time_ns())
                    next_at = max(next_at + period, time.perf_counter())
            else:  # "fast": as many as it can until the deadline
                deadline = started + command[1]
                while time.perf_counter() < deadline:
                    appender.append()
                    acked.append(time.time_ns())
            outbox.put(("done", acked, time.perf_counter() - started))
    except BaseException:
        outbox.put(("error", traceback.format_exc()))
    finally:
        if appender is not None:
            with contextlib.suppress(Exception):
                appender.close()


class AppenderProcess:
    def __init__(self, setup: Callable[..., Appender], args: tuple[Any, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.inbox: Any = ctx.Queue()
        self.outbox: Any = ctx.Queue()
        self.process = ctx.Process(
            target=_appender_process,
            args=(setup, args, self.inbox, self.outbox),
            name="bench-appender",
            daemon=True,
        )
        self._stopped = False

    def start(self) -> None:
        self.process.start()
        self._reply(START_SECONDS)

    def run(self, *command: Any, timeout: float) -> tuple[list[int], float]:
        """Send one command; (when each append was acknowledged, seconds it took)."""
        self.inbox.put(command)
        reply = self._reply(timeout)
        return list(reply[1]), float(reply[2])

    def _reply(self, timeout: float) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply: tuple[Any, ...] = self.outbox.get(timeout=0.5)
            except queue.Empty:
                if self.process.exitcode is not None:
                    raise RuntimeError(
                        f"the appender process died (exit code {self.process.exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the appender did not answer in {timeout:.0f} s") from None
                continue
            if reply[0] == "error":
                raise RuntimeError(f"the appender process failed:\n{reply[1]}")
            return reply

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        end_process(self.process, (self.inbox, self.outbox), lambda: self.inbox.put(("stop",)))


# -- one measurement ------------------------------------------------------------------------


def measure_live(
    side: LiveSide, *, rate: float, count: int, fast_seconds: float, idle_seconds: float
) -> LiveResult:
    collector = Collector()
    appender = AppenderProcess(*side.appender)
    side.start(collector)
    try:
        appender.start()
        appender.run("open", timeout=WAIT_SECONDS)
        if not collector.wait_for(1, WAIT_SECONDS):
            raise TimeoutError(f"the view did not show the first event in {WAIT_SECONDS} s")
        paced, paced_seconds = appender.run("paced", rate, count, timeout=count / rate + 60)
        collector.wait_for(1 + len(paced), WAIT_SECONDS)
        fast, fast_seconds = appender.run("fast", fast_seconds, timeout=fast_seconds + 60)
        collector.wait_for(1 + len(paced) + len(fast), WAIT_SECONDS)
        appender.stop()
        idle_cpu = None
        if idle_seconds > 0:
            time.sleep(SETTLE_SECONDS)
            cpu = time.process_time()
            time.sleep(idle_seconds)
            idle_cpu = (time.process_time() - cpu) / idle_seconds
    finally:
        appender.stop()
        side.stop()
    paced_ack, paced_send = collector.take(2, paced, paced_seconds)
    fast_ack, fast_send = collector.take(2 + len(paced), fast, fast_seconds)
    return LiveResult(paced_ack, fast_ack, idle_cpu, paced_send, fast_send)
