"""Store contract tests of reading streams and the global log, and the head of the log."""

from __future__ import annotations

import pytest

from histoire.core.recorded import START, RecordedEvent
from histoire.testing._contract.support import (
    StoreFactory,
    event_ids,
    fill,
    new_events,
    settled_log,
)


class ReadContract:
    """Reading streams and the global log, and the head of the log."""

    # -- reading streams --------------------------------------------------------

    def test_read_stream_forward_gives_every_event_in_version_order(
        self, store_factory: StoreFactory
    ) -> None:
        """A stream reads forward from version 1 to its last, as appended."""
        store = store_factory()
        events = new_events(4)
        store.append("account-1", events[:1])
        store.append("account-1", events[1:])
        read = list(store.read_stream("account-1"))
        assert event_ids(read) == event_ids(events)
        assert [bytes(e.data) for e in read] == [e.data for e in events]

    def test_read_stream_from_a_version(self, store_factory: StoreFactory) -> None:
        """Reading from version k gives versions k..N, and nothing past the end."""
        store = store_factory()
        store.append("account-1", new_events(6))
        assert [e.version for e in store.read_stream("account-1", from_version=4)] == [4, 5, 6]
        assert [e.version for e in store.read_stream("account-1", from_version=6)] == [6]
        assert list(store.read_stream("account-1", from_version=7)) == []
        assert [e.version for e in store.read_stream("account-1", from_version=1)] == list(
            range(1, 7)
        )

    def test_read_stream_backward(self, store_factory: StoreFactory) -> None:
        """Reading backward goes from the last version (or from_version) down to 1."""
        store = store_factory()
        store.append("account-1", new_events(5))
        assert [e.version for e in store.read_stream("account-1", backward=True)] == [5, 4, 3, 2, 1]
        back_from_3 = store.read_stream("account-1", backward=True, from_version=3)
        assert [e.version for e in back_from_3] == [3, 2, 1]
        assert [e.version for e in store.read_stream("account-1", backward=True, limit=2)] == [5, 4]

    def test_read_stream_with_a_limit(self, store_factory: StoreFactory) -> None:
        """A limit caps how many events a stream read gives."""
        store = store_factory()
        store.append("account-1", new_events(5))
        assert [e.version for e in store.read_stream("account-1", limit=2)] == [1, 2]
        tail = store.read_stream("account-1", from_version=4, limit=9)
        assert [e.version for e in tail] == [4, 5]
        assert list(store.read_stream("account-1", limit=0)) == []

    @pytest.mark.parametrize("batch_size", [1, 3, 10, 11])
    def test_read_stream_in_batches_smaller_than_the_stream(
        self, store_factory: StoreFactory, batch_size: int
    ) -> None:
        """Small batches give the whole stream, in order, forward and backward."""
        store = store_factory()
        events = new_events(10)
        store.append("account-1", events[:4])
        store.append("account-2", new_events(3))
        store.append("account-1", events[4:])
        forward = list(store.read_stream("account-1", batch_size=batch_size))
        assert event_ids(forward) == event_ids(events)
        backward = list(store.read_stream("account-1", backward=True, batch_size=batch_size))
        assert event_ids(backward) == event_ids(events)[::-1]
        limited = store.read_stream("account-1", from_version=2, limit=7, batch_size=batch_size)
        assert [e.version for e in limited] == list(range(2, 9))

    def test_a_missing_stream_reads_empty(self, store_factory: StoreFactory) -> None:
        """A stream with no events reads as empty at version 0, forward and backward."""
        store = store_factory()
        store.append("account-1", new_events(1))
        assert list(store.read_stream("account-2")) == []
        assert list(store.read_stream("account-2", backward=True)) == []
        assert store.stream_version("account-2") == 0

    # -- reading the log ---------------------------------------------------------

    def test_read_log_gives_every_event_in_append_order(self, store_factory: StoreFactory) -> None:
        """The log from START holds every event, in the order they were appended."""
        store = store_factory()
        appended = fill(store)
        log = settled_log(store)
        assert log == appended

    def test_read_log_after_a_checkpoint_gives_what_follows_it(
        self, store_factory: StoreFactory
    ) -> None:
        """Reading after the checkpoint of the k-th event gives exactly the events after it."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        for k, event in enumerate(log):
            assert list(store.read_log(event.checkpoint)) == log[k + 1 :]
        assert list(store.read_log(START)) == log

    def test_a_follower_reading_in_pages_sees_the_whole_log_once(
        self, store_factory: StoreFactory
    ) -> None:
        """Resuming after the last checkpoint read, page after page, gives the log exactly once."""
        store = store_factory()
        fill(store)
        seen: list[RecordedEvent] = []
        checkpoint = START
        while page := list(store.read_log(checkpoint, limit=3)):
            assert len(page) <= 3
            seen.extend(page)
            checkpoint = page[-1].checkpoint
        assert seen == settled_log(store)
        assert tuple(checkpoint) == tuple(store.head())

    def test_read_log_filtered_by_categories(self, store_factory: StoreFactory) -> None:
        """A category filter keeps the events of streams of those categories, in log order."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        accounts = list(store.read_log(categories=["account"]))
        assert accounts == [e for e in log if e.stream_id.startswith("account-")]
        assert len(accounts) == 5
        several = list(store.read_log(categories={"cart", "order"}))
        assert several == [e for e in log if e.category in ("cart", "order")]
        assert list(store.read_log(categories=["nothing"])) == []
        assert list(store.read_log(categories=[])) == []

    def test_read_log_filtered_by_types(self, store_factory: StoreFactory) -> None:
        """A type filter keeps the events of those types, in log order."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        opened = list(store.read_log(types=["bank.Opened"]))
        assert opened == [e for e in log if e.type == "bank.Opened"]
        assert [e.stream_id for e in opened] == ["account-1", "account-2"]
        both = list(store.read_log(types=("bank.Opened", "cart.ItemAdded")))
        assert both == [e for e in log if e.type in ("bank.Opened", "cart.ItemAdded")]
        assert list(store.read_log(types=["bank.Nothing"])) == []

    def test_read_log_filtered_by_categories_and_types(self, store_factory: StoreFactory) -> None:
        """Category and type filters together keep events that match both."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        read = list(store.read_log(categories=["account", "cart"], types=["bank.Deposited"]))
        assert read == [e for e in log if e.type == "bank.Deposited"]
        assert len(read) == 3

    def test_read_log_filtered_after_a_checkpoint(self, store_factory: StoreFactory) -> None:
        """Filters apply to what follows a checkpoint only."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        after = log[2].checkpoint
        read = list(store.read_log(after, categories=["account"]))
        assert read == [e for e in log[3:] if e.category == "account"]

    def test_read_log_with_a_limit(self, store_factory: StoreFactory) -> None:
        """A limit caps how many events a log read gives, filtered or not."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        assert list(store.read_log(limit=4)) == log[:4]
        assert list(store.read_log(limit=0)) == []
        assert list(store.read_log(limit=100)) == log
        accounts = [e for e in log if e.category == "account"]
        assert list(store.read_log(categories=["account"], limit=2)) == accounts[:2]

    @pytest.mark.parametrize("batch_size", [1, 2, 3])
    def test_read_log_in_tiny_batches(self, store_factory: StoreFactory, batch_size: int) -> None:
        """Tiny batches give the same log, even when filters skip whole batches."""
        store = store_factory()
        fill(store)
        log = settled_log(store)
        assert list(store.read_log(batch_size=batch_size)) == log
        orders = list(store.read_log(categories=["order"], batch_size=batch_size))
        assert orders == [e for e in log if e.category == "order"]
        added = list(store.read_log(types=["cart.ItemAdded"], batch_size=batch_size, limit=2))
        assert added == [e for e in log if e.type == "cart.ItemAdded"][:2]
        after = list(store.read_log(log[1].checkpoint, batch_size=batch_size, limit=4))
        assert after == log[2:6]

    def test_read_log_of_an_empty_store_is_empty(self, store_factory: StoreFactory) -> None:
        """A new store has an empty log and its head is START."""
        store = store_factory()
        assert settled_log(store) == []
        assert tuple(store.head()) == tuple(START)

    # -- head ----------------------------------------------------------------

    def test_head_is_the_checkpoint_of_the_last_event(self, store_factory: StoreFactory) -> None:
        """head() is the checkpoint of the log's last event, and nothing is read after it."""
        store = store_factory()
        heads = [tuple(store.head())]
        for i in range(3):
            store.append(f"account-{i}", new_events(2))
            log = settled_log(store)
            heads.append(tuple(store.head()))
            assert heads[-1] == tuple(log[-1].checkpoint)
            assert list(store.read_log(store.head())) == []
        assert heads == sorted(set(heads))
