"""SQLite group commit: concurrent appends share a transaction, yet each succeeds or fails alone.

Appends committed in one transaction share its timestamp (`recorded_at`), which
is how a user can see that fewer commits than appends happened.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from histoire import (
    NO_STREAM,
    AppendResult,
    ConcurrencyError,
    DuplicateEventError,
    InvalidInputError,
    NewEvent,
    StoreUnavailableError,
)
from histoire.store.sqlite import SQLiteEventStore
from histoire.testing.contract import new_event, new_events


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore(tmp_path / "events.db") as store:
        yield store


def while_locked(
    store: SQLiteEventStore, calls: list[Callable[[], AppendResult]]
) -> list[AppendResult | BaseException]:
    """Run `calls` in threads while another connection holds the write lock, then release it.

    Every append queues behind the lock, as appends do behind a slow commit, so
    that they reach the database together.
    """
    outcomes: list[AppendResult | BaseException] = [RuntimeError("not run")] * len(calls)
    barrier = threading.Barrier(len(calls) + 1)
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(0.5)  # let every thread queue its append
    blocker.execute("COMMIT")
    blocker.close()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return outcomes


def test_sixteen_concurrent_appends_commit_together_and_a_conflict_fails_alone(
    store: SQLiteEventStore,
) -> None:
    """Of 16 concurrent appends, the one with a wrong expected version alone fails."""
    for i in range(16):
        store.append(f"account-{i}", new_events(1 + i % 3))
    head = store.head()
    attempts = {i: new_events(2, start=100) for i in range(16)}
    wrong = 7

    def append(i: int) -> Callable[[], AppendResult]:
        expected = store.stream_version(f"account-{i}") + (5 if i == wrong else 0)
        return lambda: store.append(f"account-{i}", attempts[i], expected)

    outcomes = while_locked(store, [append(i) for i in range(16)])

    conflict = outcomes[wrong]
    assert isinstance(conflict, ConcurrencyError), conflict
    assert (conflict.stream_id, conflict.actual) == (f"account-{wrong}", 1 + wrong % 3)
    results = [o for i, o in enumerate(outcomes) if i != wrong]
    assert all(isinstance(r, AppendResult) for r in results), results
    for i in range(16):
        stored = [e.event_id for e in store.read_stream(f"account-{i}", from_version=2 + i % 3)]
        assert stored == ([] if i == wrong else [e.event_id for e in attempts[i]])
    new = list(store.read_log(head))
    assert len(new) == 15 * 2
    commits = {e.recorded_at for e in new}
    assert len(commits) < 15, "every append had its own commit"
    assert store.integrity_problems() == []


def test_replays_and_reused_ids_in_a_group_fail_or_succeed_alone(store: SQLiteEventStore) -> None:
    """A replay returns its first result and a reused id fails, without harming the others."""
    replayed = new_events(2)
    first = store.append("account-r", replayed)
    taken = store.append("account-t", new_events(1)).events[0]
    head = store.head()
    reused = [new_event(), new_event(event_id=taken.event_id)]
    calls: list[Callable[[], AppendResult]] = [
        lambda: store.append("account-r", replayed, 0),
        lambda: store.append("account-x", reused),
    ]
    normal = {i: new_events(1) for i in range(10)}
    calls += [lambda i=i: store.append(f"account-{i}", normal[i], 0) for i in range(10)]

    outcomes = while_locked(store, calls)

    assert outcomes[0] == first
    assert isinstance(outcomes[1], DuplicateEventError), outcomes[1]
    assert store.stream_version("account-x") == 0
    assert store.get_event(reused[0].event_id) is None
    assert all(isinstance(o, AppendResult) for o in outcomes[2:]), outcomes[2:]
    assert len(list(store.read_log(head))) == 10
    assert store.integrity_problems() == []


def test_an_id_given_twice_fails_its_append_alone_in_a_group(store: SQLiteEventStore) -> None:
    """An append that gives an event id twice (which the SQLite store leaves to its unique
    index, then to the batch's path) is refused alone with InvalidInputError; the others
    commit."""
    store.append("account-twice", new_events(1))
    first, second = new_events(2, start=10)
    calls: list[Callable[[], AppendResult]] = [
        lambda: store.append("account-twice", [first, second, first], 5)
    ]
    normal = {i: new_events(3) for i in range(8)}
    calls += [lambda i=i: store.append(f"account-{i}", normal[i], NO_STREAM) for i in range(8)]

    outcomes = while_locked(store, calls)

    assert isinstance(outcomes[0], InvalidInputError), outcomes[0]
    assert "given twice" in str(outcomes[0])
    assert store.stream_version("account-twice") == 1
    assert store.get_event(first.event_id) is None
    assert all(isinstance(o, AppendResult) for o in outcomes[1:]), outcomes[1:]
    for i in range(8):
        assert [e.event_id for e in store.read_stream(f"account-{i}")] == [
            e.event_id for e in normal[i]
        ]
    assert store.integrity_problems() == []


def test_an_unstorable_append_does_not_fail_the_others(store: SQLiteEventStore) -> None:
    """An append whose metadata cannot be stored is refused alone; its neighbours commit."""
    bad = NewEvent(
        event_id=new_event().event_id,
        type="t",
        schema_version=1,
        data=b"{}",
        metadata={"when": object()},
    )
    calls: list[Callable[[], AppendResult]] = [lambda: store.append("account-bad", [bad])]
    calls += [lambda i=i: store.append(f"account-{i}", new_events(1)) for i in range(8)]

    outcomes = while_locked(store, calls)

    assert isinstance(outcomes[0], InvalidInputError), outcomes[0]
    assert all(isinstance(o, AppendResult) for o in outcomes[1:]), outcomes[1:]
    assert len(list(store.read_log())) == 8


@pytest.mark.parametrize(
    "change",
    [{"schema_version": 2**63}, {"type": "x\ud800"}, {"event_id": "e-1"}, {"data": None}],
    ids=["schema-2**63", "type-surrogate", "id-str", "data-none"],
)
def test_an_append_the_driver_refuses_fails_alone_even_unvalidated(
    store: SQLiteEventStore, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    """Should validation ever let through what SQLite refuses, the batch is retried without
    it: the faulty append alone fails, with InvalidInputError, and its neighbours commit."""
    monkeypatch.setattr("histoire.store.sqlite.store.validate_append", lambda *args, **kwargs: None)
    fields: dict[str, Any] = {"event_id": uuid.uuid4(), "type": "t", "schema_version": 1}
    bad = NewEvent(**{"data": b"{}", **fields, **change})
    calls: list[Callable[[], AppendResult]] = [lambda: store.append("account-bad", [bad])]
    calls += [lambda i=i: store.append(f"account-{i}", new_events(1)) for i in range(8)]

    outcomes = while_locked(store, calls)

    assert isinstance(outcomes[0], InvalidInputError), outcomes[0]
    assert all(isinstance(o, AppendResult) for o in outcomes[1:]), outcomes[1:]
    assert len(list(store.read_log())) == 8
    assert store.stream_version("account-bad") == 0


def test_many_threads_appending_to_one_stream_get_every_version_once(
    store: SQLiteEventStore,
) -> None:
    """Threads racing on one stream with exact versions and retries leave versions 1..N."""
    threads, appends = 8, 25

    def write() -> None:
        done = 0
        while done < appends:
            version = store.stream_version("account-1")
            try:
                store.append("account-1", new_events(1), version)
            except ConcurrencyError:
                continue
            done += 1

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    versions = [e.version for e in store.read_stream("account-1")]
    assert versions == list(range(1, threads * appends + 1))
    assert store.integrity_problems() == []


def test_a_lock_held_too_long_is_reported_as_unavailable(tmp_path: Path) -> None:
    """A write lock held past lock_timeout gives StoreUnavailableError, not a driver error."""
    path = tmp_path / "events.db"
    with SQLiteEventStore(path, lock_timeout=0.3) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as raised:
                store.append("account-1", new_events(1))
            assert time.monotonic() - started < 10
            assert raised.value.retryable
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.stream_version("account-1") == 0
        assert store.append("account-1", new_events(1)).version == 1


def test_new_streams_appended_together_get_the_positions_they_report(
    store: SQLiteEventStore,
) -> None:
    """NO_STREAM appends committed together report the positions the log gives them; one on a
    stream that exists conflicts alone, with the stream's actual version."""
    store.append("account-old", new_events(2))
    head = store.head()
    sizes = {i: 1 + i % 4 for i in range(12)}
    calls: list[Callable[[], AppendResult]] = [
        lambda i=i: store.append(f"account-{i}", new_events(sizes[i]), NO_STREAM) for i in sizes
    ]
    calls.append(lambda: store.append("account-old", new_events(1), NO_STREAM))

    outcomes = while_locked(store, calls)

    conflict = outcomes[-1]
    assert isinstance(conflict, ConcurrencyError), conflict
    assert (conflict.expected, conflict.actual) == (NO_STREAM, 2)
    logged = {e.event_id: e.position for e in store.read_log(head)}
    assert sorted(logged.values()) == list(range(head.position + 1, head.position + 1 + 30))
    for i, result in enumerate(outcomes[:-1]):
        assert isinstance(result, AppendResult), result
        assert [logged[e.event_id] for e in result.events] == [e.position for e in result.events]
        assert (result.first_position, result.last_position) == (
            result.events[0].position,
            result.events[-1].position,
        )
        assert [e.version for e in result.events] == list(range(1, sizes[i] + 1))
    assert store.integrity_problems() == []


def test_blocking_threads_and_async_tasks_share_the_group_commit(tmp_path: Path) -> None:
    """Threads and asyncio tasks appending to one stream at once leave versions 1..N once each."""
    import asyncio

    from histoire.store.sqlite.async_store import AsyncSQLiteEventStore

    threads, tasks, appends = 4, 8, 15
    shared_commits: list[int] = []

    def write_blocking() -> None:
        for _ in range(appends):
            store.append("account-1", new_events(1))

    async def write_async(aio: AsyncSQLiteEventStore) -> None:
        for _ in range(appends):
            result = await aio.append("account-1", new_events(1))
            shared_commits.append(result.events[0].recorded_at)

    store = SQLiteEventStore(tmp_path / "events.db")
    aio = AsyncSQLiteEventStore.wrapping(store)

    async def main() -> None:
        workers = [threading.Thread(target=write_blocking) for _ in range(threads)]
        for worker in workers:
            worker.start()
        try:
            await asyncio.gather(*(write_async(aio) for _ in range(tasks)))
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.join, 60)
            versions = [e.version async for e in aio.read_stream("account-1")]
            await aio.aclose()
        assert versions == list(range(1, (threads + tasks) * appends + 1))
        assert len(set(shared_commits)) < tasks * appends  # async appends shared commits

    asyncio.run(main())
