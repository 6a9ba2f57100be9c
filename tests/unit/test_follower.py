"""The follower: batches of the log, split between the members of a consumer group."""

from __future__ import annotations

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
