"""Waiting for other connections' commits on SQLite: inotify on the WAL, or polling without it."""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from histoire.store.sqlite import SQLiteEventStore, wal_watch
from histoire.store.sqlite.wal_watch import WalWatch
from histoire.testing.contract import new_events

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@linux_only
def test_a_watch_reports_writes_to_the_wal_and_not_to_other_files(tmp_path: Path) -> None:
    """The watch wakes on a commit's WAL write, and stays asleep for another file's."""
    store = SQLiteEventStore(tmp_path / "events.db")
    watch = WalWatch.open(store.path)
    assert watch is not None
    try:
        assert watch.wait(0) is False
        (tmp_path / "other.txt").write_text("not the WAL")
        assert watch.wait(0.05) is False
        other = sqlite3.connect(store.path)
        other.execute("CREATE TABLE noted (x)")
        other.commit()
        other.close()
        assert watch.wait(1) is True
        assert watch.wait(0) is False  # every report was taken
    finally:
        watch.close()
        store.close()


def _wakes_on_another_connection(store_path: Path) -> float:
    """Seconds a waiting store took to see an append made by another store on the same file."""
    follower, writer = SQLiteEventStore(store_path), SQLiteEventStore(store_path)
    try:
        mark = follower.head()
        appended: list[float] = []

        def append() -> None:
            writer.append("account-1", new_events(1))
            appended.append(time.monotonic())

        timer = threading.Timer(0.2, append)
        timer.start()
        try:
            assert follower.wait_for_events(mark, timeout=10) is True
            woke = time.monotonic()
        finally:
            timer.join()  # its append done before the stores close
        assert [e.stream_id for e in follower.read_log(mark)] == ["account-1"]
        return woke - appended[0] if appended else 0.0
    finally:
        follower.close()
        writer.close()


def test_a_waiting_store_sees_another_connections_append_at_once(tmp_path: Path) -> None:
    """Another handle's append wakes a wait within a fraction of a second (no long poll)."""
    assert _wakes_on_another_connection(tmp_path / "events.db") < 0.5


def test_without_inotify_a_wait_polls_and_still_wakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no watch can be had (not Linux, no inotify instance left), the wait polls."""
    monkeypatch.setattr(wal_watch.WalWatch, "open", classmethod(lambda cls, path: None))
    assert _wakes_on_another_connection(tmp_path / "events.db") < 0.5


@linux_only
def test_a_store_keeps_one_watch_per_waiting_thread_and_closes_them(tmp_path: Path) -> None:
    """Waits in one thread reuse its watch (closing one is slow); a thread's watch is closed
    when the thread ends, the others by close()."""
    store = SQLiteEventStore(tmp_path / "events.db")
    head = store.head()
    for _ in range(3):
        assert store.wait_for_events(head, timeout=0) is False
    thread = threading.Thread(target=store.wait_for_events, args=(head, 0))
    thread.start()
    thread.join()
    gc.collect()
    assert len(store._all_watches) == 1  # the other thread's ended with it
    store.close()
    assert len(store._all_watches) == 0


@linux_only
def test_an_async_wait_sleeps_on_the_watch_and_wakes_on_another_process_commit(
    tmp_path: Path,
) -> None:
    """The asyncio store's idle wait looks at data_version a few times a second, not every
    2 ms, and still wakes at once on another connection's commit; two waiters at once each
    get theirs."""
    import asyncio

    from histoire.store.sqlite.async_store import AsyncSQLiteEventStore

    async def scenario() -> tuple[int, list[bool], float]:
        store = AsyncSQLiteEventStore(tmp_path / "events.db")
        looks = 0
        data_version = store.blocking.data_version

        def counted() -> int:
            nonlocal looks
            looks += 1
            return data_version()

        store.blocking.data_version = counted  # type: ignore[method-assign]
        head = await store.head()
        try:
            assert await store.wait_for_events(head, 1.0) is False
            idle_looks = looks
            writer = SQLiteEventStore(tmp_path / "events.db")
            loop = asyncio.get_running_loop()
            appended: list[float] = []

            def append() -> None:
                writer.append("account-1", new_events(1))
                appended.append(time.monotonic())

            appender = threading.Thread(target=append)
            loop.call_later(0.2, appender.start)
            woke = await asyncio.gather(
                store.wait_for_events(head, 10), store.wait_for_events(head, 10)
            )
            woken_at = time.monotonic()
            await asyncio.to_thread(appender.join)  # its append done before the store closes
            late = woken_at - appended[0]
            writer.close()
            return idle_looks, woke, late
        finally:
            await store.aclose()

    idle_looks, woke, late = asyncio.run(scenario())
    assert idle_looks < 50, f"{idle_looks} looks at data_version in an idle second"
    assert woke == [True, True]
    assert late < 0.5
