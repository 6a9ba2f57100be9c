"""CONCURRENCY: the transfer process manager under 8 processes: money conserved, views exact.

Eight processes start random transfers between 50 accounts (five of them closed, so that
some credits are refused and refunded) while each runs one member of the process
manager's consumer group, and the test keeps the `balances` view live. In the end: the
money is all there, no balance is below zero, every stream is whole (versions 1..N, each
event once in the log, `verify` clean), every transfer is completed, refunded or refused,
and the live view equals the streams and a clean rebuild.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from histoire import ProjectionRunner, open_store, wait_for_projection
from histoire.app.follower import ConsumerGroup
from histoire.app.reactions import ReactionRunner
from histoire.examples import bank, transfers

from . import budget
from .bank_app import make_app, open_accounts
from .checks import assert_store_whole, assert_view_equals_rebuild, balances_view

pytestmark = [pytest.mark.guarantees, pytest.mark.slow]

PROCESSES = 8
ACCOUNTS = [f"account-{n}" for n in range(50)]
CLOSED = ACCOUNTS[-5:]
INITIAL = 10_000
SECONDS = budget.seconds(3.0)


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


def test_8_processes_of_transfers_conserve_money_and_every_transfer_ends(
    target: tuple[str, dict[str, Any]],
) -> None:
    """Random transfers by 8 processes: money conserved, none below 0, live view == rebuilt."""
    url, options = target
    store = open_store(url, **options)
    app = make_app()
    accounts = app.handler("bank", store)
    open_accounts(store, app, [a for a in ACCOUNTS if a not in CLOSED], initial=INITIAL)
    open_accounts(store, app, CLOSED)
    for account in CLOSED:
        accounts.handle(account, bank.CloseAccount())
    view = ProjectionRunner(store, app.projection("balances"), codec=app.codec())
    halt = threading.Event()
    live = threading.Thread(target=view.run, kwargs={"live": True, "stop": halt})
    live.start()
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
        assert wait_for_projection(store, "balances", store.head(), timeout=60)
        halt.set()
        live.join(30)
    assert set(stages) <= transfers.FINAL, stages
    assert stages["completed"] > 0 and stages["refunded"] > 0 and stages["refused"] > 0
    balances = {a: accounts.load(a).state.balance_cents for a in ACCOUNTS}
    assert sum(balances.values()) == total
    assert min(balances.values()) >= 0
    followed = balances_view(store)
    assert_view_equals_rebuild(store, app)  # equals the streams, and a rebuild
    assert balances_view(store) == followed
    events = assert_store_whole(store, app)
    print(
        f"\n{url.split(':')[0]}: {events} events; {launched} transfers by {PROCESSES} "
        f"processes: {dict(stages)}; "
        f"money {total} before and {sum(balances.values())} after"
    )
    store.close()
