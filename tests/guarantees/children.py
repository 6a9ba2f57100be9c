"""The processes the crash suites kill: writers, a projection, a reaction worker, the relay.

They start from a fork server that has histoire imported already, so that a
restart costs milliseconds and a run of 20 kills stays short. Each runs until
it is killed (or, for followers, told to stop).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from histoire import RetriesExhaustedError, open_store
from histoire.examples import bank

from .bank_app import Post, make_app

ACCOUNTS = [f"account-{n}" for n in range(8)]
LEDGERS = [f"ledger-{n}" for n in range(3)]
PRELOAD = [
    "histoire.store.sqlite",
    "histoire.store.postgres",
    "histoire.app.reactions",
    "histoire.app.relay",
    "histoire.brokers.nats_jetstream",
]
"""Modules the children import lazily: imported once in the fork server instead."""


def context() -> ForkServerContext:
    """The fork server context, with this module and the backends loaded in the server."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *PRELOAD])
    return ctx


def write_commands(url: str, options: dict[str, Any], log: str, seed: int) -> None:
    """Handle random bank and ledger commands for ever, recording each one in `log`.

    Before a command: `sent <command id> <stream> <events>`; once handle() returned:
    `ack <command id> <stream> <first version> <last version>`. Each line is one
    write() to a file opened with O_APPEND, so a kill never leaves half a line.
    """
    app = make_app()
    store = open_store(url, **options)
    handlers = {"bank": app.handler("bank", store), "ledger": app.handler("ledger", store)}
    rng = random.Random(seed)
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    while True:
        command: Any
        if rng.random() < 0.3:
            decider, stream = "ledger", rng.choice(LEDGERS)
            command = Post(amounts=[rng.randint(1, 99) for _ in range(rng.randint(2, 6))])
            count = len(command.amounts)
        else:
            decider, stream, count = "bank", rng.choice(ACCOUNTS), 1
            amount = rng.randint(1, 300)
            command = (
                bank.Deposit(amount_cents=amount)
                if rng.random() < 0.6
                else bank.Withdraw(amount_cents=amount)
            )
        command_id = uuid.uuid4()
        os.write(out, f"sent {command_id} {stream} {count}\n".encode())
        try:
            result = handlers[decider].handle(stream, command, command_id=command_id)
        except RetriesExhaustedError:
            continue  # too much contention: the command may be tried by a user again
        first = result.events[0].version
        os.write(out, f"ack {command_id} {stream} {first} {result.version}\n".encode())


def run_projection(url: str, options: dict[str, Any], batch_size: int) -> None:
    """Keep the `balances` view live until killed."""
    from histoire import ProjectionRunner

    app = make_app()
    store = open_store(url, **options)
    ProjectionRunner(
        store, app.projection("balances"), codec=app.codec(), batch_size=batch_size
    ).run(live=True)


def run_transfers(url: str, options: dict[str, Any], batch_size: int) -> None:
    """Run the transfers' process manager live until killed."""
    from histoire.app.reactions import ReactionRunner

    app = make_app()
    store = open_store(url, **options)
    ReactionRunner(store, app.reaction("transfers"), app=app, batch_size=batch_size).run(live=True)


def run_relay(url: str, options: dict[str, Any], broker_url: str, batch_size: int) -> None:
    """Publish the log to a broker, live, until killed."""
    from histoire.app.relay import Relay
    from histoire.brokers import open_broker

    store = open_store(url, **options)
    Relay(store, open_broker(broker_url), batch_size=batch_size).run(live=True)


class KillLoop:
    """Starts processes of one target, SIGKILLs them at random moments, starts them again."""

    def __init__(self, target: Callable[..., None], *args: Any, seed: int = 0) -> None:
        self.ctx = context()
        self.target = target
        self.args = args
        self.rng = random.Random(seed)
        self.kills = 0
        self.startup: list[float] = []
        """Seconds each process took to do its first work (see `run`)."""

    def start(self, *extra: Any) -> BaseProcess:
        process = self.ctx.Process(target=self.target, args=(*self.args, *extra), daemon=True)
        process.start()
        return process

    def kill(self, process: BaseProcess) -> None:
        """SIGKILL `process` and reap it; it must not have died by itself before."""
        assert process.is_alive(), f"{self.target.__name__} died by itself: {process.exitcode}"
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        assert process.exitcode == -signal.SIGKILL
        self.kills += 1

    def run(
        self, kills: int, low: float, high: float, progress: Callable[[], int], timeout: float = 30
    ) -> None:
        """Kill one process after another `kills` times, each `low`..`high` seconds after it
        has moved `progress()` on (done some work, the proof that it got going)."""
        for _ in range(kills):
            before = progress()
            process = self.start()
            deadline = time.monotonic() + timeout
            while progress() == before:
                assert time.monotonic() < deadline, f"{self.target.__name__} did no work"
                assert process.is_alive(), f"{self.target.__name__} died: {process.exitcode}"
                time.sleep(0.01)
            self.startup.append(time.monotonic() - (deadline - timeout))
            time.sleep(self.rng.uniform(low, high))
            self.kill(process)
