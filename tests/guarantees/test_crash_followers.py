"""CRASH: a projection worker, a reaction worker and the relay killed mid-batch lose nothing.

While a thread of the test appends, the follower runs in a process that is
SIGKILLed at random moments and started again. After the last restart:

- projection: the `balances` view equals the streams and a clean rebuild
  (rows and checkpoint commit together: nothing lost, nothing applied twice);
- reaction: the transfers' process manager brings every transfer to its end
  and the money is all there (a withdrawal or a deposit sent twice would show);
- relay: every stored event reaches the broker, each stream in order, and
  JetStream drops what a restarted relay published again.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from histoire import EventStore, open_store, projection_status
from histoire.app.reactions import ReactionRunner
from histoire.app.relay import Relay, relay_status
from histoire.brokers import open_broker
from histoire.examples import bank, transfers

from ..brokers import (
    assert_each_event_once_in_order,
    broker_namespace,
    everything,
    remember_subscription,
)
from . import budget
from .bank_app import make_app, open_accounts
from .checks import assert_store_whole, assert_view_equals_rebuild
from .children import ACCOUNTS, KillLoop, run_projection, run_relay, run_transfers

pytestmark = [pytest.mark.guarantees, pytest.mark.slow]

KILLS = budget.times(8)
BATCH = 20
CLOSED = ACCOUNTS[-2:]


@contextlib.contextmanager
def commands_meanwhile(store: EventStore, send: Callable[[random.Random], None]) -> Iterator[None]:
    """Call `send` in a loop in a thread until the block ends."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        rng = random.Random(5)
        try:
            while not stop.is_set():
                send(rng)
                time.sleep(0.002)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert failures == []


def test_a_projection_worker_killed_mid_batch_ends_equal_to_a_rebuild(
    target: tuple[str, dict[str, Any]],
) -> None:
    """8 SIGKILLs (40 in soak mode) of a live projection: the view is exact."""
    url, options = target
    app = make_app()
    store = open_store(url, **options)
    open_accounts(store, app, ACCOUNTS)
    handler = app.handler("bank", store)

    def deposit(rng: random.Random) -> None:
        handler.handle(rng.choice(ACCOUNTS), bank.Deposit(amount_cents=rng.randint(1, 500)))

    def handled() -> int:
        return sum(s.handled for s in projection_status(store, "balances"))

    loop = KillLoop(run_projection, url, options, BATCH, seed=1)
    with commands_meanwhile(store, deposit):
        loop.run(KILLS, 0.0, 0.3, progress=handled)
    assert loop.kills == KILLS
    assert_view_equals_rebuild(store, app)
    events = assert_store_whole(store, app)
    print(
        f"\nprojection: {loop.kills} kills survived, each once it had "
        f"worked (first work within {max(loop.startup):.2f} s), "
        f"{events} events, view == rebuild"
    )
    store.close()


def test_a_reaction_worker_killed_mid_batch_still_ends_every_transfer(
    target: tuple[str, dict[str, Any]],
) -> None:
    """8 SIGKILLs (40 in soak mode) of the process manager: money conserved, all transfers end."""
    url, options = target
    app = make_app()
    store = open_store(url, **options)
    open_accounts(store, app, ACCOUNTS[:-2], initial=5_000)
    open_accounts(store, app, CLOSED)
    for account in CLOSED:  # deposits into them are refused: the transfer is refunded
        app.handler("bank", store).handle(account, bank.CloseAccount())
    total = 5_000 * (len(ACCOUNTS) - len(CLOSED))
    starter = app.handler("transfers", store)

    def start_transfer(rng: random.Random) -> None:
        source, target_account = rng.sample(ACCOUNTS, 2)
        amount = rng.randint(1, 2_000)
        command = transfers.StartTransfer(source=source, target=target_account, amount_cents=amount)
        starter.handle(f"transfer-{uuid.uuid4()}", command)

    def commands_sent() -> int:  # only the process manager writes to accounts meanwhile
        return sum(1 for _ in store.read_log(categories=["account"]))

    loop = KillLoop(run_transfers, url, options, BATCH, seed=2)
    with commands_meanwhile(store, start_transfer):
        loop.run(KILLS, 0.0, 0.3, progress=commands_sent)
    assert loop.kills == KILLS

    stop = threading.Event()
    runner = ReactionRunner(store, app.reaction("transfers"), app=app, batch_size=BATCH)
    thread = threading.Thread(target=runner.run, kwargs={"live": True, "stop": stop})
    thread.start()
    streams = [i.stream_id for i in store.list_streams(category="transfer")]
    deadline = time.monotonic() + 60
    try:
        while True:
            stages = Counter(starter.load(s).state.stage for s in streams)
            if set(stages) <= transfers.FINAL or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(30)
    assert set(stages) <= transfers.FINAL, stages
    accounts = app.handler("bank", store)
    balances = [accounts.load(a).state.balance_cents for a in ACCOUNTS]
    assert sum(balances) == total
    assert min(balances) >= 0
    events = assert_store_whole(store, app)
    print(
        f"\nreaction: {loop.kills} kills survived, each once it had "
        f"worked (first work within {max(loop.startup):.2f} s), "
        f"{len(streams)} transfers {dict(stages)}"
    )
    print(f"money {total} before and {sum(balances)} after; {events} events")
    store.close()


def test_a_relay_killed_mid_batch_publishes_every_event_once_in_order(
    target: tuple[str, dict[str, Any]],
) -> None:
    """8 SIGKILLs (40 in soak mode) of the relay to NATS: every event there once, in order."""
    url, options = target
    app = make_app()
    store = open_store(url, **options)
    open_accounts(store, app, ACCOUNTS)
    handler = app.handler("bank", store)

    def deposit(rng: random.Random) -> None:
        handler.handle(rng.choice(ACCOUNTS), bank.Deposit(amount_cents=rng.randint(1, 500)))

    with broker_namespace("nats") as broker_url:
        broker = open_broker(broker_url)
        remember_subscription(broker_url, "check")
        loop = KillLoop(run_relay, url, options, broker_url, BATCH, seed=3)
        with commands_meanwhile(store, deposit):
            loop.run(
                KILLS, 0.0, 0.3, progress=lambda: sum(s.published for s in relay_status(store))
            )
        assert loop.kills == KILLS
        Relay(store, broker).run()  # the last restart: publishes what is left, then returns
        stored = len(list(store.read_log()))
        got = everything(broker, "check", stored)
        duplicates = assert_each_event_once_in_order(store, got)
        assert duplicates == 0  # JetStream dropped them by Nats-Msg-Id
        broker.close()
    print(
        f"\nrelay: {loop.kills} kills survived, each once it had "
        f"worked (first work within {max(loop.startup):.2f} s), "
        f"{stored} events published once each"
    )
    store.close()
