"""The bank transfer process manager under 8 processes: money conserved, every transfer ends.

Eight processes start random transfers between 50 accounts (five of them closed, so that
some credits are refused and refunded) while each runs one member of the process
manager's consumer group. In the end: the money is all there, no balance is below zero,
every account stream is whole, and every transfer is completed, refunded or refused.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from histoire import Application, open_store
from histoire.app.follower import ConsumerGroup
from histoire.app.reactions import ReactionRunner
from histoire.examples import bank, transfers

from .._services import fresh_postgres_schema, postgres_url_or_skip

pytestmark = pytest.mark.slow

PROCESSES = 8
ACCOUNTS = [f"account-{n}" for n in range(50)]
CLOSED = ACCOUNTS[-5:]
INITIAL = 10_000
SECONDS = 3.0


def make_app() -> Application:
    return Application(
        name="bank",
        deciders=[bank.make_decider(), transfers.make_decider()],
        upcasters=bank.make_upcasters(),
        reactions=[transfers.make_process(base_delay=0.05)],
    )


def work(url: str, options: dict[str, Any], member: int, stop: Any, started: Any) -> int:
    """Start transfers for a while and run member `member` of the process manager."""
    app = make_app()
    store = open_store(url, **options)
    runner = ReactionRunner(
        store, app.reaction("transfers"), app=app, group=ConsumerGroup(member, PROCESSES)
    )
    halt = threading.Event()
    follower = threading.Thread(target=runner.run, kwargs={"live": True, "stop": halt})
    follower.start()
    rng = random.Random(member)
    handler = app.handler("transfers", store)
    count = 0
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        source, target = rng.sample(ACCOUNTS, 2)
        handler.handle(
            f"transfer-{uuid.uuid4()}",
            transfers.StartTransfer(
                source=source, target=target, amount_cents=rng.randint(1, 4000)
            ),
        )
        count += 1
    started.put(count)
    stop.wait(120)
    halt.set()
    follower.join()
    store.close()
    return count


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_8_processes_of_transfers_conserve_money_and_every_transfer_ends(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'bank.db'}", {}
    else:
        url = postgres_url_or_skip()
        options = {"schema": fresh_postgres_schema(url)}
    store = open_store(url, **options)
    app = make_app()
    accounts = app.handler("bank", store)
    for account in ACCOUNTS:
        accounts.handle(account, bank.OpenAccount(owner=account))
        if account in CLOSED:
            accounts.handle(account, bank.CloseAccount())
        else:
            accounts.handle(account, bank.Deposit(amount_cents=INITIAL))
    total = INITIAL * (len(ACCOUNTS) - len(CLOSED))
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    started = context.Queue()
    workers = [
        context.Process(target=work, args=(url, options, n, stop, started))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        launched = sum(started.get(timeout=120) for _ in workers)
        streams = [i.stream_id for i in store.list_streams(category="transfer")]
        assert len(streams) == launched
        handler = app.handler("transfers", store)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stages = Counter(handler.load(s).state.stage for s in streams)
            if set(stages) <= transfers.FINAL:
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert set(stages) <= transfers.FINAL, stages
    assert stages["completed"] > 0 and stages["refunded"] > 0 and stages["refused"] > 0
    balances = {a: accounts.load(a).state.balance_cents for a in ACCOUNTS}
    assert sum(balances.values()) == total
    assert min(balances.values()) >= 0
    for info in store.list_streams(category="account"):
        versions = [e.version for e in store.read_stream(info.stream_id)]
        assert versions == list(range(1, info.version + 1))
    print(
        f"\n{backend}: {launched} transfers by {PROCESSES} processes: {dict(stages)}; "
        f"money {total} before and {sum(balances.values())} after"
    )
    store.close()
