"""W8: deposits from several writer PROCESSES on one PostgreSQL schema.

Each process (multiprocessing, spawn) opens its own store or application,
opens its own accounts (one command each, before the clock), reports ready,
then waits for the start signal. From the signal it handles deposit commands
(load, decide, append) round-robin over its accounts until a deadline common
to all (signal time + a fixed duration, on the system-wide monotonic clock),
and reports how many it finished. The timed run is from the signal to the last
process's report: total commands / that wall time (the duration plus the last
command in flight; closing the stores and process exit are not timed).

Accounts: `accounts` in all, split evenly, so the streams grow at the same
pace whatever the number of writers (a few deposits per account per round).
No two processes touch the same stream: no conflicts, only shared tables.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import AMOUNT_CENTS, CURRENCY, OWNER, Prepared

Step = Callable[[], object]
"""Handles one deposit command."""

READY_TIMEOUT = 180.0
"""Seconds the parent waits for every process to be set up (16 spawns on 2 CPUs: ~5 s)."""


# -- the work inside a writer process ------------------------------------------------


def histoire_writer(url: str, schema: str, accounts: int) -> tuple[Step, Callable[[], None]]:
    """A store of its own, `accounts` opened through the CommandHandler; deposits."""
    from histoire import Codec, CommandHandler, EventRegistry, open_store, stream_id_for
    from histoire.examples import bank

    store = open_store(url, schema=schema)
    codec = Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())
    handle = CommandHandler(store, bank.make_decider(), codec=codec).handle
    ids = [stream_id_for("account", uuid.uuid4()) for _ in range(accounts)]
    opening = bank.OpenAccount(owner=OWNER, currency=CURRENCY)
    for stream_id in ids:
        handle(stream_id, opening)
    deposit = bank.Deposit(amount_cents=AMOUNT_CENTS)
    turn = _round_robin(ids)
    return (lambda: handle(next(turn), deposit)), store.close


def eventsourcing_writer(env: dict[str, str], accounts: int) -> tuple[Step, Callable[[], None]]:
    """A `Bank` application of its own, `accounts` opened with `open_account`; deposits."""
    from benchmarks.systems_eventsourcing import Bank

    app = Bank(env=env)
    ids = [app.open_account(OWNER, CURRENCY) for _ in range(accounts)]
    deposit = app.deposit
    turn = _round_robin(ids)
    return (lambda: deposit(next(turn), AMOUNT_CENTS)), app.close


def _round_robin(items: list[Any]) -> Any:
    while True:
        yield from items


def _writer_process(
    setup: Callable[..., tuple[Step, Callable[[], None]]],
    args: tuple[Any, ...],
    seconds: float,
    go: Any,
    go_at: Any,
    ready: Any,
    results: Any,
) -> None:
    """Set up (untimed), say ready, wait for `go`, work until `go_at + seconds`, report."""
    close: Callable[[], None] | None = None
    try:
        step, close = setup(*args)
        ready.put(("ready", os.getpid(), None))
        if not go.wait(READY_TIMEOUT + 60):
            raise TimeoutError("no start signal")
        started = time.monotonic()
        deadline = go_at.value + seconds
        done = 0
        while time.monotonic() < deadline:
            step()
            done += 1
        results.put(("done", done, started - go_at.value))
    except BaseException:
        message = ("error", os.getpid(), traceback.format_exc())
        ready.put(message)
        results.put(message)
    finally:
        if close is not None:
            with contextlib.suppress(Exception):
                close()


# -- the parent -----------------------------------------------------------------------


class WriterProcesses:
    """`processes` writer processes, spawned and set up by `start()`, timed by `run()`."""

    def __init__(
        self,
        setup: Callable[..., tuple[Step, Callable[[], None]]],
        args_per_process: list[tuple[Any, ...]],
        seconds: float,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.go = ctx.Event()
        self.go_at: Any = ctx.Value("d", 0.0, lock=False)
        self.ready: Any = ctx.Queue()
        self.results: Any = ctx.Queue()
        self.seconds = seconds
        self.processes = [
            ctx.Process(
                target=_writer_process,
                args=(setup, args, seconds, self.go, self.go_at, self.ready, self.results),
                name=f"bench-writer-{i}",
                daemon=True,
            )
            for i, args in enumerate(args_per_process)
        ]
        self.per_process: list[tuple[int, float]] = []
        """(commands, seconds from the signal to its first command) per process."""

    def start(self) -> Prepared:
        for process in self.processes:
            process.start()
        self._collect(self.ready, READY_TIMEOUT, "setting up")
        return self.run

    def run(self) -> int:
        self.go_at.value = time.monotonic()
        self.go.set()
        done = self._collect(self.results, self.seconds + 120, "writing")
        self.per_process = [(int(count), float(late)) for _, count, late in done]
        return sum(count for count, _ in self.per_process)

    def _collect(self, source: Any, timeout: float, doing: str) -> list[tuple[Any, ...]]:
        """One message per process from `source`; raises if one failed or died."""
        deadline = time.monotonic() + timeout
        got: list[tuple[Any, ...]] = []
        while len(got) < len(self.processes):
            try:
                message = source.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in self.processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"writer process {dead[0].name} died while {doing} "
                        f"(exit code {dead[0].exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"writer processes still {doing} after {timeout:.0f} s"
                    ) from None
                continue
            if message[0] == "error":
                raise RuntimeError(f"a writer process failed while {doing}:\n{message[2]}")
            got.append(message)
        return got

    def stop(self) -> None:
        """Let the processes close their stores and exit (end them after a failure)."""
        for process in self.processes:
            if process.pid is not None and self.go.is_set():
                process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
        for q in (self.ready, self.results):
            q.close()
            q.join_thread()


def split_accounts(accounts: int, processes: int) -> list[int]:
    """`accounts` dealt to `processes` writers, at least one each."""
    base, extra = divmod(max(accounts, processes), processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]
