"""A projection worker killed at random moments ends with the read model of a clean run.

Exactly once into the store's database: the rows of a batch and its checkpoint
commit together, so a kill -9 between any two instructions loses nothing and
applies nothing twice. Also: SIGTERM stops a worker cleanly, with exit status 0.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from histoire import CommandHandler, EventStore, open_store, read_model, wait_for_projection
from histoire.examples import bank

from .._services import fresh_postgres_schema, postgres_url_or_skip

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = [f"account-{n}" for n in range(20)]


def start_worker(url: str, schema: str | None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tests.integration.projection_worker", url]
    if schema:
        args.append(schema)
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def deposit_until(store: EventStore, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    while not stop.is_set():
        handler.handle(rng.choice(ACCOUNTS), bank.Deposit(amount_cents=rng.randint(1, 500)))


def truth(store: EventStore) -> dict[str, int]:
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    return {a: handler.load(a).state.balance_cents for a in ACCOUNTS}


def view(store: EventStore) -> dict[str, int]:
    with read_model(store, "balances") as model:
        return {key: doc["balance_cents"] for key, doc in model.documents("accounts")}


def open_backend(backend: str, tmp_path: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}", None
    url = postgres_url_or_skip()
    return url, fresh_postgres_schema(url)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_worker_killed_12_times_ends_with_the_clean_read_model(
    backend: str, tmp_path: Path
) -> None:
    """Kill -9 at random moments while deposits flow; the view still equals the truth."""
    url, schema = open_backend(backend, tmp_path)
    options: dict[str, Any] = {"schema": schema} if schema else {}
    store = open_store(url, **options)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    for account in ACCOUNTS:
        handler.handle(account, bank.OpenAccount(owner=account))
    stop = threading.Event()
    writer = threading.Thread(target=deposit_until, args=(store, stop, 1))
    writer.start()
    rng = random.Random(7)
    kills = 0
    try:
        for _ in range(12):
            worker = start_worker(url, schema)
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "running", worker.stderr
            time.sleep(rng.uniform(0.05, 0.5))
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            worker.communicate()
            kills += 1
    finally:
        stop.set()
        writer.join()
    assert kills == 12
    worker = start_worker(url, schema)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "running"
        assert wait_for_projection(store, "balances", store.head(), timeout=60)
        assert view(store) == truth(store)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "stopped" in out
    store.close()


def test_sigterm_stops_an_idle_worker_at_once_with_status_0(tmp_path: Path) -> None:
    """A live worker told to stop finishes its batch and exits 0 within a second or so."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url)
    CommandHandler(store, bank.make_decider()).handle("account-1", bank.OpenAccount(owner="a"))
    worker = start_worker(url, None)
    assert worker.stdout is not None and worker.stdout.readline().strip() == "running"
    assert wait_for_projection(store, "balances", store.head(), timeout=30)
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=10)
    assert worker.returncode == 0, err
    assert time.monotonic() - started < 5
    assert out.splitlines()[-1] == "stopped 1"
    store.close()
