"""Many writers on ONE stream: with the default RetryPolicy, no command is lost.

Each writer handles 200 deposits on the same account. Every append conflicts
with the others' as soon as two writers load the same version; the handler
retries with backoff and jitter. With the old policy (3 immediate retries) 8
threads lost hundreds of commands to RetriesExhaustedError on SQLite and on
PostgreSQL. The accounts take a snapshot every 100 events, so that loads stay
short and the test quick; the figures for streams loaded in full are in the
docs (docs/concepts.md, "Conflicts and retries").
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from histoire import CommandHandler, EventStore, RetriesExhaustedError, open_store
from histoire.examples import bank

from .._services import fresh_postgres_schema, postgres_url_or_skip

pytestmark = pytest.mark.slow

COMMANDS = 200
SNAPSHOT_EVERY = 100
STREAM = "account-1"


def deposits(store: EventStore, commands: int = COMMANDS) -> int:
    """Handle `commands` deposits of one cent on STREAM; the number lost to conflicts."""
    handler = CommandHandler(store, bank.make_decider(SNAPSHOT_EVERY))
    lost = 0
    for _ in range(commands):
        try:
            handler.handle(STREAM, bank.Deposit(amount_cents=1))
        except RetriesExhaustedError:
            lost += 1
    return lost


def opened(store: EventStore) -> None:
    CommandHandler(store, bank.make_decider(SNAPSHOT_EVERY)).handle(
        STREAM, bank.OpenAccount(owner="ada")
    )


def assert_every_deposit_stored(store: EventStore, writers: int) -> None:
    handler = CommandHandler(store, bank.make_decider())
    loaded = handler.load(STREAM)
    assert loaded.version == 1 + writers * COMMANDS
    assert loaded.state.balance_cents == writers * COMMANDS


def test_threads_on_one_stream_lose_no_command(store: EventStore) -> None:
    """8 threads sharing one store each handle 200 commands on one stream: none is lost."""
    threads = 8
    opened(store)
    barrier = threading.Barrier(threads)
    lost: list[int] = []
    errors: list[str] = []

    def writer() -> None:
        try:
            barrier.wait(timeout=60)
            lost.append(deposits(store))
        except BaseException:
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert errors == []
    assert lost == [0] * threads
    assert_every_deposit_stored(store, threads)


def deposits_from_process(url: str, options: dict[str, Any], start: Any, report: Any) -> None:
    """In a child process: open the store, wait for the others, handle the deposits."""
    try:
        store = open_store(url, **options)
        try:
            start.wait(timeout=120)  # a barrier: every process starts at once
            report.put(("lost", deposits(store)))
        finally:
            store.close()
    except BaseException:
        report.put(("error", traceback.format_exc()))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_processes_on_one_stream_lose_no_command(kind: str, tmp_path: Path) -> None:
    """4 processes each handle 200 commands on one stream: none is lost."""
    processes = 4
    if kind == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'events.db'}", {}
    else:
        url = postgres_url_or_skip()
        options = {"schema": fresh_postgres_schema(url)}
    store = open_store(url, **options)
    try:
        opened(store)
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(processes + 1)
        report = context.Queue()
        children = [
            context.Process(target=deposits_from_process, args=(url, options, start, report))
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        start.wait(timeout=120)
        outcomes = [report.get(timeout=300) for _ in children]
        for child in children:
            child.join(timeout=60)
        assert [error for kind_, error in outcomes if kind_ == "error"] == []
        assert outcomes == [("lost", 0)] * processes
        assert_every_deposit_stored(store, processes)
    finally:
        store.close()
