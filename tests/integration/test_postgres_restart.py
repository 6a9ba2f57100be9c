"""FAULT TEST: the PostgreSQL server restarts in the middle of a run of appends.

While it is down, commands fail with StoreUnavailableError (retryable, naming
the server); once it is back, the pool reconnects and the same commands work;
no append is half written. The test restarts a temporary cluster of its own
(initdb + pg_ctl), so that other tests using the shared server are not cut off.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from histoire import AppendResult, InvalidInputError, NewEvent, StoreUnavailableError
from histoire.store.postgres import PostgresEventStore

from .._services import TemporaryCluster, require_services

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.guarantees]

STREAMS = [f"account-{n}" for n in range(6)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[TemporaryCluster]:
    started = TemporaryCluster.start_or_none()
    if started is None:
        # Restarting a shared server would cut off everyone else's sessions: skip instead.
        message = "cannot start a PostgreSQL cluster of our own to restart (initdb/pg_ctl)"
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    yield started
    started.stop()


def new_events(count: int) -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type="test.Happened", schema_version=1, data=b"{}")
        for _ in range(count)
    ]


class Writer(threading.Thread):
    """Appends batches at the expected version, retrying each one until it is acknowledged.

    A retry sends the same event ids at the same expected version: if the first try
    committed but its answer was lost, the store returns that first result.
    """

    def __init__(self, store: PostgresEventStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.stop = threading.Event()
        self.acknowledged: list[AppendResult] = []
        self.unavailable: list[StoreUnavailableError] = []
        self.other_errors: list[BaseException] = []
        self.versions = dict.fromkeys(STREAMS, 0)

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stop.is_set():
            stream = rng.choice(STREAMS)
            events = new_events(rng.randint(1, 8))
            while not self.stop.is_set():
                try:
                    result = self.store.append(stream, events, self.versions[stream])
                except StoreUnavailableError as exc:
                    self.unavailable.append(exc)
                    time.sleep(0.05)
                    continue
                except BaseException as exc:
                    self.other_errors.append(exc)
                    return
                self.acknowledged.append(result)
                self.versions[stream] = result.last_version
                break


def _until_it_works(call: object, seconds: float) -> float:
    """Seconds until `call()` stops raising StoreUnavailableError."""
    started = time.monotonic()
    while True:
        try:
            call()  # type: ignore[operator]
            return time.monotonic() - started
        except StoreUnavailableError:
            if time.monotonic() - started > seconds:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_appends_survive_a_server_restart(cluster: TemporaryCluster, mode: str) -> None:
    """Down: StoreUnavailableError on every command. Back: it works. Nothing half written."""
    schema = f"restart_{mode}"
    store = PostgresEventStore(
        cluster.url, schema=schema, pool_min=2, pool_max=4, pool_timeout=1.0, connect_timeout=2
    )
    follower = PostgresEventStore(cluster.url, schema=schema, pool_timeout=1.0)
    writer = Writer(store)
    try:
        writer.start()
        time.sleep(1.0)
        assert writer.acknowledged, "the writer did not get going"
        follower.wait_for_events(follower.head(), timeout=0)  # opens its LISTEN connection

        cluster.stop_server(mode)
        down: list[StoreUnavailableError] = []
        for command in (
            lambda: store.append("account-99", new_events(1)),
            lambda: store.stream_version("account-1"),
            lambda: list(follower.read_log()),
            lambda: follower.wait_for_events(follower.head(), timeout=1),
        ):
            with pytest.raises(StoreUnavailableError) as caught:
                command()
            down.append(caught.value)
        for error in down:
            assert error.retryable
            assert f"127.0.0.1:{cluster.port}" in str(error), str(error)
            assert "retry" in str(error)
        cluster.start()

        recovery = _until_it_works(lambda: store.append("account-99", new_events(1)), 15)
        _until_it_works(lambda: follower.wait_for_events(follower.head(), timeout=0), 15)
        acknowledged_before = len(writer.acknowledged)
        deadline = time.monotonic() + 10
        while len(writer.acknowledged) < acknowledged_before + 5:
            assert time.monotonic() < deadline, "the writer did not resume"
            time.sleep(0.05)
        writer.stop.set()
        writer.join(timeout=10)
        assert not writer.is_alive()
        assert writer.other_errors == []
        assert writer.unavailable, "the writer should have met the outage"

        assert store.integrity_problems() == []
        for result in writer.acknowledged:
            stored = list(
                store.read_stream(
                    result.stream_id, from_version=result.first_version, limit=len(result.events)
                )
            )
            assert stored == list(result.events), f"acknowledged append {result} not intact"
        for stream in STREAMS:
            assert store.stream_version(stream) == writer.versions[stream]
        whole = list(follower.read_log())
        assert len({e.event_id for e in whole}) == len(whole)
        print(
            f"\n{mode}: {len(writer.acknowledged)} appends acknowledged, "
            f"{len(writer.unavailable)} refused while down, back after {recovery:.2f} s"
        )
    finally:
        writer.stop.set()
        writer.join(timeout=10)
        store.close()
        follower.close()


APP = """
from histoire import Application
from histoire.examples import bank, deletion
from histoire.examples.bank_views import balances
from histoire.examples.mailers import OutboxMailer
from histoire.examples.support import make_alerts, make_support

app = Application(
    name="bank",
    deciders=[deletion.make_decider(), make_alerts()],
    upcasters=deletion.make_upcasters(),
    projections=[balances],
    reactions=[make_support(OutboxMailer("outbox"))],
)
"""


@pytest.mark.parametrize("outage", ["mid-run", "at-start"])
def test_live_workers_wait_for_the_server_and_resume(
    cluster: TemporaryCluster, tmp_path: Path, outage: str
) -> None:
    """`projections run` and `reactions run` live through a restart (mid-run), or started
    while the server is still down (at-start: a container started before its database):
    they wait while it is down, go on from their checkpoints once it is up, and end exact."""
    from histoire import open_store, read_model
    from histoire.examples import bank, deletion
    from histoire.examples.bank_views import balances
    from histoire.examples.support import ALERTS_STREAM

    (tmp_path / "bankapp.py").write_text(APP)
    url = f"{cluster.url}?schema=workers_{outage.replace('-', '_')}"
    if outage == "at-start":
        cluster.stop_server("fast")
    env = {k: v for k, v in os.environ.items() if k not in ("HISTOIRE_STORE", "HISTOIRE_APP")}
    env.update(HISTOIRE_STORE=url, HISTOIRE_APP="bankapp:app")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT / "src")])
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "histoire", *command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in (["projections", "run"], ["reactions", "run"])
    ]
    if outage == "at-start":
        time.sleep(3)  # they try, and wait
        ended = [w.communicate()[1][-3000:] for w in workers if w.poll() is not None]
        assert not ended, f"a worker started before the server did not wait: {ended}"
        cluster.start()
    store = open_store(url, pool_timeout=1.0, connect_timeout=2)
    namespace: dict[str, Any] = {}
    exec(APP, namespace)  # the same Application the workers load
    accounts = namespace["app"].handler("account-deletion", store)
    deposited = 0
    refusals = 0

    def commands(count: int) -> None:
        nonlocal deposited, refusals
        for n in range(count):
            stream = f"account-{n % 3}"
            command = deletion.DeleteAccount(reason="test") if n % 10 == 9 else None
            while True:
                try:
                    if command is None:
                        accounts.handle(stream, bank.Deposit(amount_cents=1))
                        deposited += 1
                    elif accounts.handle(stream, command).events[0].type.endswith("Refused"):
                        refusals += 1
                    break
                except StoreUnavailableError:
                    time.sleep(0.1)

    def caught_up(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with read_model(store, balances) as view:
                    rows = [view.documents("accounts").get(f"account-{n}") for n in range(3)]
                total = sum(row["balance_cents"] for row in rows if row is not None)
                alerts = len(list(store.read_stream(ALERTS_STREAM)))
                if total == deposited and alerts == refusals:
                    break
            except (StoreUnavailableError, InvalidInputError):  # down, or not run yet
                total = alerts = -1
            ended = [w.communicate()[1][-3000:] for w in workers if w.poll() is not None]
            assert not ended, f"a worker ended at the restart: {ended}"
            assert time.monotonic() < deadline, (total, deposited, alerts, refusals)
            time.sleep(0.2)

    try:
        for n in range(3):
            accounts.handle(f"account-{n}", bank.OpenAccount(owner=f"owner-{n}"))
        commands(30)
        caught_up(60)  # the workers run, and have handled all that
        cluster.stop_server("fast")
        time.sleep(2)  # the workers meet the outage
        cluster.start()
        commands(30)
        caught_up(60)
        assert refusals > 0
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        errors = [worker.communicate(timeout=30)[1] for worker in workers]
        store.close()
    assert [w.returncode for w in workers] == [0, 0], errors
    if outage == "at-start":
        assert all("waiting for the store" in e for e in errors), errors


def test_live_followers_of_the_library_outlive_a_restart(cluster: TemporaryCluster) -> None:
    """A user's own live Follower (a thread) and AsyncFollower (a task: an SSE endpoint, a
    consumer) go on through a server restart: every event once, in log order."""
    import asyncio

    from histoire import START, open_async_store, open_store
    from histoire.app.async_follower import AsyncFollower
    from histoire.app.follower import Follower

    url = f"{cluster.url}?schema=followers"
    store = open_store(url, pool_timeout=1.0, connect_timeout=2)
    seen: dict[str, list[str]] = {"sync": [], "async": []}
    stop = threading.Event()
    failures: list[BaseException] = []

    def blocking() -> None:
        try:
            for batch in Follower(store).batches(START, live=True, stop=stop):
                seen["sync"] += [str(r.event_id) for r in batch.events]
        except BaseException as exc:
            failures.append(exc)

    def awaiting() -> None:
        async def follow() -> None:
            astore = await open_async_store(url, pool_timeout=1.0, connect_timeout=2)
            done = asyncio.Event()
            watch = asyncio.create_task(asyncio.to_thread(stop.wait))
            watch.add_done_callback(lambda _: done.set())
            try:
                async for event in AsyncFollower(astore).events(START, stop=done):
                    seen["async"].append(str(event.event_id))
            finally:
                await astore.aclose()

        try:
            asyncio.run(follow())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=blocking), threading.Thread(target=awaiting)]
    for thread in threads:
        thread.start()
    stored: list[str] = []

    def append(count: int) -> None:
        for _ in range(count):
            events = new_events(1)
            _until_it_works(lambda e=events: store.append("feed-1", e), 60)
            stored.append(str(events[0].event_id))

    def caught_up() -> None:
        deadline = time.monotonic() + 60
        while (seen["sync"] != stored or seen["async"] != stored) and not failures:
            assert time.monotonic() < deadline, (len(stored), seen)
            time.sleep(0.1)
        assert not failures, failures

    try:
        append(10)
        caught_up()
        cluster.stop_server("fast")
        time.sleep(2)  # both meet the outage, waiting or reading
        cluster.start()
        append(10)
        caught_up()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        store.close()
    assert seen["sync"] == seen["async"] == stored
    assert not failures, failures
