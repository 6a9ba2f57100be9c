"""Store contract tests of followers: waiting for events, and concurrent writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from histoire.core.append_result import AppendResult
from histoire.core.errors import (
    ConcurrencyError,
    HistoireError,
)
from histoire.core.recorded import START, RecordedEvent
from histoire.core.versions import NO_STREAM
from histoire.store.protocol import EventStore
from histoire.testing._contract.support import (
    SETTLE_TIMEOUT,
    StoreFactory,
    event_ids,
    in_threads,
    new_events,
    settled_log,
)


class FollowContract:
    """Followers: waiting for events, and concurrent writers."""

    # -- waiting for events ----------------------------------------------------------

    def test_wait_for_events_returns_at_once_when_events_are_there(
        self, store_factory: StoreFactory
    ) -> None:
        """wait_for_events returns True without waiting when events follow the checkpoint."""
        store = store_factory()
        store.append("account-1", new_events(2))
        first = settled_log(store)[0].checkpoint
        started = time.monotonic()
        assert store.wait_for_events(START, timeout=10) is True
        assert store.wait_for_events(first, timeout=10) is True
        assert time.monotonic() - started < 5

    def test_wait_for_events_times_out_when_nothing_comes(
        self, store_factory: StoreFactory
    ) -> None:
        """wait_for_events returns False once the timeout has passed with nothing new."""
        store = store_factory()
        store.append("account-1", new_events(1))
        started = time.monotonic()
        head = settled_log(store)[-1].checkpoint
        assert store.wait_for_events(head, timeout=0.3) is False
        assert time.monotonic() - started >= 0.25

    def test_wait_for_events_wakes_when_another_thread_appends(
        self, store_factory: StoreFactory
    ) -> None:
        """A follower waiting on the head wakes soon after another handle appends."""
        follower, writer = store_factory(), store_factory()
        follower.append("account-1", new_events(1))
        head = settled_log(follower)[-1].checkpoint

        def append_later() -> None:
            time.sleep(0.3)
            writer.append("account-2", new_events(1))

        thread = threading.Thread(target=append_later)
        started = time.monotonic()
        thread.start()
        try:
            assert follower.wait_for_events(head, timeout=20) is True
            woke_after = time.monotonic() - started
        finally:
            thread.join()
        assert woke_after < 10
        assert [e.stream_id for e in settled_log(follower)] == ["account-1", "account-2"]

    # -- concurrent writers -----------------------------------------------------------

    def test_one_of_many_racing_appends_at_one_version_wins(
        self, store_factory: StoreFactory
    ) -> None:
        """Of threads appending at the same exact version, one commits, the others conflict."""
        store = store_factory()
        store.append("account-1", new_events(1))
        racers = 8
        attempts = [new_events(2, start=10 * i) for i in range(racers)]
        results: list[AppendResult] = []

        def race(i: int) -> None:
            results.append(store.append("account-1", attempts[i], 1))

        errors = in_threads(racers, race)
        assert len(results) == 1
        assert len(errors) == racers - 1
        assert all(isinstance(e, ConcurrencyError) and e.actual == 3 for e in errors), errors
        assert event_ids(list(store.read_stream("account-1")))[1:] == event_ids(results[0].events)
        assert len(settled_log(store)) == 3

    def test_concurrent_appends_to_one_stream_leave_no_hole(
        self, store_factory: StoreFactory
    ) -> None:
        """Threads appending with ANY to one stream all commit, at versions 1..N."""
        store = store_factory()
        threads, per_thread = 6, 5

        def write(i: int) -> None:
            for _ in range(per_thread):
                store.append("account-1", new_events(2))

        assert in_threads(threads, write) == []
        versions = [e.version for e in store.read_stream("account-1")]
        assert versions == list(range(1, threads * per_thread * 2 + 1))

    def test_a_follower_never_skips_events_appended_concurrently(
        self, store_factory: StoreFactory
    ) -> None:
        """A follower resuming from its checkpoint while threads write sees each event once."""
        writer, follower = store_factory(), store_factory()
        writers, appends = 4, 15
        total = writers * sum(1 + n % 2 for n in range(appends))

        def write(i: int) -> None:
            for n in range(appends):
                writer.append(f"account-{i}", new_events(1 + n % 2))

        seen = follow_while_writing(follower, total, writers, write, batch_size=5)
        log = settled_log(writer)
        assert len(log) == total
        assert event_ids(seen) == event_ids(log)
        for i in range(writers):
            versions = [e.version for e in writer.read_stream(f"account-{i}")]
            assert versions == list(range(1, len(versions) + 1))

    def test_a_follower_of_some_categories_never_skips_events_appended_concurrently(
        self, store_factory: StoreFactory
    ) -> None:
        """A follower of one category, in pages large enough for the store to choose how to
        read them (SQLite: through the index, or the log in order where the category is
        dense), while threads append bursts of it and of other categories: each of its
        events once, in log order."""
        writer, follower = store_factory(), store_factory()
        writers, appends = 4, 40
        total = writers * sum(1 + n % 5 * 6 for n in range(appends) if n // 10 % 2 == 0)

        def write(i: int) -> None:
            for n in range(appends):  # dense stretches of "thing", then of the others
                category = "thing" if (n // 10) % 2 == 0 else ("other", "another")[n % 2]
                writer.append(f"{category}-{i}", new_events(1 + n % 5 * 6))

        seen = follow_while_writing(
            follower, total, writers, write, categories=["thing"], batch_size=100
        )
        expected = [e for e in settled_log(writer) if e.stream_id.startswith("thing-")]
        assert len(expected) == total
        assert event_ids(seen) == event_ids(expected)

    def test_errors_are_histoire_errors(self, store_factory: StoreFactory) -> None:
        """Every refusal of the store is a HistoireError, never a driver's exception."""
        store = store_factory()
        store.append("account-1", new_events(1))
        attempts: list[Callable[[], object]] = [
            lambda: store.append("account-1", new_events(1), NO_STREAM),
            lambda: store.append("", new_events(1)),
            lambda: store.append("account-1", []),
            lambda: store.append("account-1", new_events(1), -1),
            lambda: store.append("account-2", list(store.read_stream("account-1"))),  # type: ignore[arg-type]
        ]
        for attempt in attempts:
            with pytest.raises(HistoireError):
                attempt()
        assert len(settled_log(store)) == 1


def follow_while_writing(
    follower: EventStore, total: int, writers: int, write: Callable[[int], None], **read: Any
) -> list[RecordedEvent]:
    """What a follower of the log (`read`: read_log's options) saw while `writers` threads
    ran `write(i)`, until they were done and it saw `total` events (or SETTLE_TIMEOUT
    later). Each event must come after the one before, and no writer may fail."""
    done = threading.Event()
    seen: list[RecordedEvent] = []
    problems: list[str] = []

    def follow() -> None:
        checkpoint = START
        deadline = None
        while True:
            for event in follower.read_log(checkpoint, **read):
                if tuple(event.checkpoint) <= tuple(checkpoint):
                    problems.append(f"{event!r} came after checkpoint {checkpoint}")
                seen.append(event)
                checkpoint = event.checkpoint
            if done.is_set():
                # The writers are done; the last events may take a moment to show.
                deadline = deadline or time.monotonic() + SETTLE_TIMEOUT
                if len(seen) >= total or time.monotonic() > deadline:
                    return
            follower.wait_for_events(checkpoint, timeout=0.05)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        errors = in_threads(writers, write)
    finally:
        done.set()
        reader.join(timeout=60)
    assert errors == []
    assert not reader.is_alive()
    assert problems == []
    return seen
