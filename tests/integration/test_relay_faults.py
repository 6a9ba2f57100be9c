"""The relay and the followers fed from a broker, under faults, against the real servers.

- the relay killed with SIGKILL 10 times while events are appended, then
  restarted: every event reaches the broker, each stream in order; what was
  published twice is dropped (by NATS itself; by the consumer elsewhere);
- the broker stopped and started while the relay publishes (a private
  nats-server, redis-server and RabbitMQ node): the relay waits and resumes
  by itself;
- a projection fed from the broker killed mid-batch, again and again: its
  read model ends equal to the truth, nothing lost, nothing applied twice.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import CommandHandler, EventStore, open_store, read_model
from histoire.app.relay import Relay, relay_status
from histoire.brokers import open_broker
from histoire.examples import bank

from .._services import require_services
from ..brokers import (
    BROKERS,
    assert_each_event_once_in_order,
    broker_namespace,
    everything,
    isolated,
    remember_subscription,
)
from ..private_brokers import PrivateServer, binary

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = [f"account-{n}" for n in range(12)]

APP = textwrap.dedent(
    """
    from histoire import Application
    from histoire.examples import bank
    from histoire.examples.bank_views import balances

    app = Application(
        name="bank",
        deciders=[bank.make_decider()],
        upcasters=bank.make_upcasters(),
        projections=[balances],
    )
    """
)


def bank_handler(store: EventStore) -> CommandHandler:  # type: ignore[type-arg]
    return CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())


def open_accounts(store: EventStore) -> None:
    handler = bank_handler(store)
    for account in ACCOUNTS:
        handler.handle(account, bank.OpenAccount(owner=account))


@contextlib.contextmanager
def depositing(store: EventStore, seed: int, pause: float = 0.002) -> Iterator[None]:
    """Deposits into random accounts in a thread, until the block ends."""
    stop = threading.Event()

    def deposit() -> None:
        rng = random.Random(seed)
        handler = bank_handler(store)
        while not stop.is_set():
            handler.handle(rng.choice(ACCOUNTS), bank.Deposit(amount_cents=rng.randint(1, 500)))
            time.sleep(pause)

    thread = threading.Thread(target=deposit)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def histoire_process(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HISTOIRE_STORE", "HISTOIRE_APP")}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "histoire", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def published(store: EventStore) -> int:
    """How many events the relays of `store` have recorded as published."""
    return sum(s.published for s in relay_status(store))


def caught_up(store: EventStore, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = relay_status(store)
        if statuses and all(s.checkpoint >= store.head() for s in statuses):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKERS)
def test_a_relay_killed_10_times_loses_nothing(kind: str, tmp_path: Path) -> None:
    """SIGKILL at random moments while deposits flow; restarted, every event is there once."""
    url_store = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url_store)
    open_accounts(store)
    with broker_namespace(kind) as url:
        broker = open_broker(url)
        remember_subscription(url, "check")
        broker.subscribe("check").close()  # RabbitMQ keeps messages for queues that exist
        rng = random.Random(kind)
        kills = 0
        with depositing(store, seed=3):
            for _ in range(10):
                before = published(store)
                relay = histoire_process(
                    "relay", "--to", url, "--store", url_store, "--batch-size", "40"
                )
                # Kill it at a random moment once it publishes (a loaded machine may take
                # more than a second to start a process).
                deadline = time.monotonic() + 30
                while published(store) == before and relay.poll() is None:
                    assert time.monotonic() < deadline, "the relay never published"
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.5))
                relay.send_signal(signal.SIGKILL)
                _, errors = relay.communicate(timeout=10)
                assert relay.returncode == -signal.SIGKILL, errors
                kills += 1
        assert kills == 10
        Relay(store, broker).run()  # restarted: publishes what is left, then returns
        got = everything(broker, "check", len(list(store.read_log())))
        duplicates = assert_each_event_once_in_order(store, got)
        if kind == "nats":
            assert duplicates == 0  # JetStream dropped them by Nats-Msg-Id
        broker.close()
    store.close()


# -- a broker stopped and started --------------------------------------------


@pytest.fixture
def private_server(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    kind = request.param
    if binary(kind) is None:
        if require_services():
            pytest.fail(f"the {kind} server program is missing and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(f"the {kind} server program is missing")
    folder = Path(tempfile.mkdtemp(prefix=f"histoire-{kind}-"))
    server = PrivateServer(kind, folder)
    if not server.start():
        shutil.rmtree(folder, ignore_errors=True)
        message = f"a private {kind} server did not answer within {server.start_timeout:.0f} s"
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.guarantees
@pytest.mark.parametrize("private_server", BROKERS, indirect=True)
def test_the_relay_waits_for_a_stopped_broker_and_resumes(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    """The broker stops for a second, twice, while the relay publishes: nothing lost, in order."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    open_accounts(store)
    url = isolated(private_server.url, private_server.kind, "outage")
    # NATS buffers while it reconnects: a short ack timeout makes the outage a failure
    options = {"ack_timeout": 0.5} if private_server.kind == "nats" else {}
    broker = open_broker(url, **options)
    broker.subscribe("check").close()  # RabbitMQ keeps messages for queues that exist
    stop = threading.Event()
    relay = Relay(store, broker, batch_size=50)
    reports = []
    thread = threading.Thread(target=lambda: reports.append(relay.run(live=True, stop=stop)))
    thread.start()
    try:
        with depositing(store, seed=5):
            for _ in range(2):
                time.sleep(0.6)
                private_server.stop()
                time.sleep(1.0)
                assert private_server.start(), f"{private_server.kind} did not start again"
            time.sleep(0.5)
        assert caught_up(store), relay_status(store)
    finally:
        stop.set()
        thread.join(30)
    assert reports and reports[0].broker_failures > 0, "the relay never saw the broker down"
    got = everything(broker, "check", len(list(store.read_log())))
    assert_each_event_once_in_order(store, got)
    broker.close()
    store.close()


# -- a consumer killed ----------------------------------------------------------


def view(store: EventStore) -> dict[str, int]:
    with read_model(store, "balances") as model:
        return {key: doc["balance_cents"] for key, doc in model.documents("accounts")}


def truth(store: EventStore) -> dict[str, int]:
    handler = bank_handler(store)
    return {a: handler.load(a).state.balance_cents for a in ACCOUNTS}


@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKERS)
def test_a_projection_fed_from_a_broker_killed_mid_batch_ends_exact(
    kind: str, tmp_path: Path
) -> None:
    """SIGKILL the broker-fed projection 8 times; its view (another database) equals the truth."""
    (tmp_path / "bankapp.py").write_text(APP)
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    view_url = f"sqlite:///{tmp_path / 'view.db'}"
    open_accounts(store)
    with broker_namespace(kind) as url:
        remember_subscription(url, "projection:balances:g1:0of1")
        broker = open_broker(url)
        command = [
            "projections",
            "run",
            "balances",
            "--from-broker",
            url,
            "--app",
            "bankapp:app",
            "--store",
            view_url,
            "--batch-size",
            "30",
        ]
        worker = histoire_process(*command, cwd=tmp_path)
        time.sleep(1.0)  # its subscription exists before the relay publishes (RabbitMQ)
        stop = threading.Event()
        relay = threading.Thread(
            target=Relay(store, broker).run, kwargs={"live": True, "stop": stop}
        )
        relay.start()
        rng = random.Random(kind)
        try:
            with depositing(store, seed=9, pause=0.001):
                for _ in range(8):
                    assert worker.stderr is not None
                    assert "running" in worker.stderr.readline()  # it is consuming now
                    time.sleep(rng.uniform(0.1, 0.5))
                    worker.send_signal(signal.SIGKILL)
                    worker.communicate(timeout=10)
                    worker = histoire_process(*command, cwd=tmp_path)
            assert caught_up(store)
            views = open_store(view_url)
            deadline = time.monotonic() + 30
            expected = truth(store)
            while (
                time.monotonic() < deadline and (view(views) if _built(views) else {}) != expected
            ):
                time.sleep(0.2)
            assert view(views) == expected
            views.close()
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=30)
            stop.set()
            relay.join(30)
        assert worker.returncode == 0, err
        broker.close()
    store.close()


def _built(store: EventStore) -> bool:
    try:
        view(store)
    except Exception:
        return False
    return True


def test_two_relays_of_one_member_do_not_both_publish_everything(tmp_path: Path) -> None:
    """Two live relays of one member at once (a deployment's overlap, or a mistake): a
    checkpoint is recorded only from the one its batch started at, so the second stands by
    instead of publishing every event again, and the checkpoint never goes back."""
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    open_accounts(store)
    with broker_namespace("redis") as url:
        broker = open_broker(url)
        broker.subscribe("check").close()
        stop = threading.Event()
        relays = [Relay(store, open_broker(url), batch_size=5) for _ in range(2)]
        threads = [
            threading.Thread(target=relay.run, kwargs={"live": True, "stop": stop})
            for relay in relays
        ]
        seen = []
        for thread in threads:
            thread.start()
        try:
            with depositing(store, seed=5, pause=0.005):
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:
                    seen.extend(s.checkpoint for s in relay_status(store))
                    time.sleep(0.01)
            assert caught_up(store)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert seen == sorted(seen), "the recorded checkpoint went back"
        events = len(list(store.read_log()))
        got = everything(broker, "check", events)
        duplicates = assert_each_event_once_in_order(store, got)
        assert duplicates < events // 4, f"{duplicates} of {events} events published twice"
        for relay in relays:
            relay.broker.close()
        broker.close()
    store.close()
