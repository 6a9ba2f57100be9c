"""FAULTS, PostgreSQL: connections cut in the middle of appends.

- A proxy between the store and the server loses an append's request (never
  committed) or its reply (committed, the acknowledgement lost) and cuts the
  connection. With the server out of reach for a moment, the append raises
  StoreUnavailableError (retryable); the same store object, retrying the same
  event ids at the same expected version, gets the first result: the outcome
  is resolved by the ids, nothing is stored twice, the application is not
  restarted. With the server still in reach, append() itself reconnects and
  retries once, and returns the result.
- Another session kills the store's backends (pg_terminate_backend) again
  and again while a writer appends: every acknowledged append is intact.

The server restarted mid-run is tests/integration/test_postgres_restart.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from histoire import AppendResult, NewEvent, StoreUnavailableError
from histoire.store.postgres import PostgresEventStore

from .._services import fresh_postgres_schema, postgres_url_or_skip
from ..integration.test_postgres_restart import STREAMS, Writer
from . import budget
from .tcp_proxy import ReplyCuttingProxy

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres]


def new_events(count: int) -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type="test.Happened", schema_version=1, data=b"{}")
        for _ in range(count)
    ]


@pytest.fixture
def url() -> str:
    return postgres_url_or_skip()


@pytest.fixture
def proxy(url: str) -> Iterator[ReplyCuttingProxy]:
    parts = urlsplit(url)
    started = ReplyCuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield started
    started.close()


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}127.0.0.1:{port}").geturl()


def retried(
    store: PostgresEventStore, events: list[NewEvent], version: int, seconds: float = 15
) -> tuple[AppendResult, float]:
    """The result of appending `events` to account-1 at `version`, retried while the store is
    unavailable, and how long that took."""
    started = time.monotonic()
    while True:
        try:
            return store.append("account-1", events, version), time.monotonic() - started
        except StoreUnavailableError:
            if time.monotonic() - started > seconds:
                raise
            time.sleep(0.1)


def test_an_append_whose_reply_is_lost_is_resolved_by_its_ids(
    url: str, proxy: ReplyCuttingProxy
) -> None:
    """Each reply of an append lost in turn (and its request once), the server then out of
    reach: a retryable error; back in reach, the same append again gives the first result,
    stored once, whether the lost reply was the commit's acknowledgement or not."""
    schema = fresh_postgres_schema(url)
    direct = PostgresEventStore(url, schema=schema)
    store = PostgresEventStore(
        through(url, proxy.port), schema=schema, pool_min=1, pool_max=1, pool_timeout=1
    )
    outcomes: list[str] = []
    recovery = 0.0
    try:
        store.append("account-1", new_events(1), 0)  # the pool's connection is open
        before = proxy.replies
        store.append("account-1", new_events(1), 1)
        replies = proxy.replies - before  # the server's replies to one append
        version = 2
        cuts = [(k, True) for k in range(1, replies + 1)] + [(1, False)]
        for k, reply in cuts:
            events = new_events(3)
            proxy.lose(k, replies=reply, then_refuse=True)
            with pytest.raises(StoreUnavailableError) as caught:
                store.append("account-1", events, version)
            assert caught.value.retryable
            stored = direct.get_event(events[0].event_id) is not None
            outcomes.append("committed, acknowledgement lost" if stored else "not committed")
            proxy.restore()
            result, seconds = retried(store, events, version)
            recovery = max(recovery, seconds)
            assert [e.event_id for e in result.events] == [e.event_id for e in events]
            assert (result.first_version, result.last_version) == (version + 1, version + 3)
            version += 3
            assert direct.stream_version("account-1") == version
        assert "committed, acknowledgement lost" in outcomes, outcomes
        assert "not committed" in outcomes, outcomes
        log = list(direct.read_log())
        assert len(log) == version == len({e.event_id for e in log})
    finally:
        store.close()
        direct.close()
    print(
        f"\n{proxy.cuts} connections cut mid-append, the same ids retried by the same store "
        f"object (back within {recovery:.2f} s): {outcomes}"
    )


def test_a_connection_cut_once_mid_append_is_retried_by_the_store_itself(
    url: str, proxy: ReplyCuttingProxy
) -> None:
    """A request or reply lost and the connection cut, the server still in reach: append()
    reconnects, sends the same ids again and returns the result; nothing is stored twice."""
    schema = fresh_postgres_schema(url)
    direct = PostgresEventStore(url, schema=schema)
    store = PostgresEventStore(through(url, proxy.port), schema=schema, pool_min=1, pool_max=1)
    try:
        store.append("account-1", new_events(1), 0)
        before = proxy.replies
        store.append("account-1", new_events(1), 1)
        replies = proxy.replies - before
        version = 2
        cuts = [(k, True) for k in range(1, replies + 1)] + [(1, False)]
        for _ in range(budget.times(3)):
            for k, reply in cuts:
                events = new_events(2)
                proxy.lose(k, replies=reply)
                result = store.append("account-1", events, version)
                assert [e.event_id for e in result.events] == [e.event_id for e in events]
                assert result.first_version == version + 1
                version += 2
        assert direct.stream_version("account-1") == version
        log = list(direct.read_log())
        assert len(log) == version == len({e.event_id for e in log})
    finally:
        store.close()
        direct.close()
    assert proxy.cuts == len(cuts) * budget.times(3)


def test_backends_killed_mid_append_lose_no_acknowledged_append(url: str) -> None:
    """pg_terminate_backend on the store's sessions 20 times: every acknowledged append intact."""
    name = f"histoire-g1-{uuid.uuid4().hex[:12]}"
    schema = fresh_postgres_schema(url)
    joiner = "&" if urlsplit(url).query else "?"
    store = PostgresEventStore(
        f"{url}{joiner}application_name={name}", schema=schema, pool_min=2, pool_max=4
    )
    writer = Writer(store)
    kills = budget.times(20)
    terminated = 0
    try:
        writer.start()
        with psycopg.connect(url, autocommit=True) as admin:
            for _ in range(kills):
                time.sleep(0.05)
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                ).fetchall()
                terminated += sum(1 for (done,) in rows if done)
        before = len(writer.acknowledged)
        deadline = time.monotonic() + 10
        while len(writer.acknowledged) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.stop.set()
        writer.join(timeout=10)
    assert writer.other_errors == []
    assert len(writer.acknowledged) > before, "the writer did not resume"
    assert terminated >= kills // 2, "the store's sessions were hardly ever there to kill"
    assert all(e.retryable for e in writer.unavailable)  # most were retried by the store itself
    for result in writer.acknowledged:
        stored = list(
            store.read_stream(
                result.stream_id, from_version=result.first_version, limit=len(result.events)
            )
        )
        assert stored == list(result.events), f"acknowledged append {result} not intact"
    for stream in STREAMS:
        assert store.stream_version(stream) == writer.versions[stream]
    log = list(store.read_log())
    assert len(log) == len({e.event_id for e in log}) == sum(writer.versions.values())
    store.close()
    print(
        f"\n{terminated} backends terminated: {len(writer.unavailable)} retryable errors, "
        f"{len(writer.acknowledged)} appends acknowledged and intact"
    )
