"""The follower: batches of the log, split between the members of a consumer group."""

from __future__ import annotations

import threading
import time

import pytest

from histoire import START, NewEvent, open_store
from histoire.app.follower import ConsumerGroup, Follower
from histoire.codec.ids import new_event_id


def event() -> NewEvent:
    return NewEvent(event_id=new_event_id(), type="thing.Happened", schema_version=1, data=b"{}")


def test_one_follower_gets_every_event_and_the_members_of_a_group_split_them() -> None:
    """Alone, a follower sees the whole log in order; members see disjoint parts of it."""
    store = open_store("memory://")
    for n in range(12):
        store.append(f"thing-{n}", [event()])
    alone = [r.position for b in Follower(store, batch_size=5).batches(START) for r in b.events]
    assert alone == list(range(1, 13))
    parts = [
        [
            r.position
            for b in Follower(store, group=ConsumerGroup(m, 2)).batches(START)
            for r in b.events
        ]
        for m in range(2)
    ]
    assert sorted(parts[0] + parts[1]) == alone
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])


def test_a_live_filtered_follower_jumps_over_events_it_does_not_take_and_then_waits() -> None:
    """Live, after its own events, a filtered follower's checkpoint reaches the head past
    the events the filter leaves out, and it then waits instead of reading again."""
    store = open_store("memory://")
    follower = Follower(store, categories=["thing"])
    stop = threading.Event()
    batches = follower.batches(START, live=True, stop=stop, idle_wait=0.05)
    store.append("thing-1", [event()])
    first = next(batches)
    assert [r.stream_id for r in first.events] == ["thing-1"]
    store.append("other-1", [event()])
    store.append("other-2", [event()])
    jump = next(batches)
    assert jump.events == [] and jump.checkpoint == store.head()
    reads = []
    original = store.read_log

    def counted(*args: object, **kwargs: object) -> object:
        reads.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.read_log = counted  # type: ignore[method-assign]
    waiting = threading.Thread(target=lambda: next(batches, None))
    waiting.start()
    waiting.join(0.3)
    assert reads == [], "an idle follower must wait, not read the log again"
    stop.set()
    waiting.join(2)


def test_a_flood_of_appends_reaches_a_live_follower_in_few_batches_none_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live, on a store with a `live_pace` (SQLite's), the next read after a batch with
    events waits that long: the appends of a flood arrive together, in order, as one
    batch (one read-model transaction), not one batch each. (The pace is made long here
    so that the flood surely fits in it.)"""
    store = open_store("memory://")
    monkeypatch.setattr(type(store), "live_pace", 0.5, raising=False)
    stop = threading.Event()
    batches = Follower(store).batches(START, live=True, stop=stop, idle_wait=0.05)
    store.append("thing-0", [event()])
    assert [r.stream_id for r in next(batches).events] == ["thing-0"]
    started = time.monotonic()
    for n in range(1, 51):
        store.append(f"thing-{n}", [event()])
    assert time.monotonic() - started < 0.5, "the flood took longer than the pace"
    flood = next(batches)
    assert [r.stream_id for r in flood.events] == [f"thing-{n}" for n in range(1, 51)]
    stop.set()
    assert list(batches) == []
