"""Store contract tests of idempotent appends: the same events again give the first result."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from histoire.core.errors import (
    DuplicateEventError,
)
from histoire.core.recorded import NewEvent
from histoire.core.versions import ANY, NO_STREAM, STREAM_EXISTS
from histoire.testing._contract.support import (
    StoreFactory,
    assert_nothing_written,
    new_event,
    new_events,
    settled_log,
)


class IdempotencyContract:
    """Idempotent appends: the same events again give the first result."""

    # -- idempotent appends -----------------------------------------------------

    @pytest.mark.parametrize("expected", [ANY, NO_STREAM, 0])
    def test_appending_the_same_events_again_returns_the_first_result(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """The same ids, content and place appended again give the first result, writing nothing."""
        store = store_factory()
        events = [new_event(metadata={"user": "ada"}), new_event("contract.Other", b"[1,2]")]
        first = store.append("account-1", events, expected)
        before = settled_log(store)
        again = store.append("account-1", events, expected)
        assert again == first
        assert_nothing_written(store, before, "account-1", 2)
        assert len(settled_log(store)) == 2

    def test_a_replay_after_later_appends_returns_the_first_result(
        self, store_factory: StoreFactory
    ) -> None:
        """An append replayed after the stream moved on still returns its first result."""
        store = store_factory()
        store.append("account-1", new_events(1))
        events = new_events(2, start=2)
        first = store.append("account-1", events, 1)
        store.append("account-1", new_events(3, start=4))
        store.append("account-2", new_events(1))
        before = settled_log(store)
        assert store.append("account-1", events, 1) == first
        assert store.append("account-1", events, ANY) == first
        assert store.append("account-1", events, STREAM_EXISTS) == first
        assert_nothing_written(store, before, "account-1", 6)

    def test_the_same_ids_expected_at_another_place_are_refused(
        self, store_factory: StoreFactory
    ) -> None:
        """Stored ids appended again at another exact version raise DuplicateEventError."""
        store = store_factory()
        events = new_events(2)
        store.append("account-1", events, NO_STREAM)
        store.append("account-1", new_events(1))
        before = settled_log(store)
        for expected in (1, 3):
            with pytest.raises(DuplicateEventError):
                store.append("account-1", events, expected)
        assert_nothing_written(store, before, "account-1", 3)

    @pytest.mark.parametrize(
        "change",
        [
            {"data": b'{"n":99}'},
            {"type": "contract.Other"},
            {"schema_version": 2},
            {"metadata": {"user": "eve"}},
            {"causation_id": uuid.UUID(int=7)},
            {"correlation_id": uuid.UUID(int=8)},
        ],
        ids=["data", "type", "schema_version", "metadata", "causation_id", "correlation_id"],
    )
    def test_the_same_id_with_other_content_is_refused(
        self, store_factory: StoreFactory, change: dict[str, Any]
    ) -> None:
        """A stored event id appended again with any field changed raises DuplicateEventError."""
        store = store_factory()
        original = new_event(data=b'{"n":1}', metadata={"user": "ada"})
        stored = store.append("account-1", [original]).events[0]
        before = settled_log(store)
        fields: dict[str, Any] = {
            "event_id": original.event_id,
            "type": original.type,
            "schema_version": original.schema_version,
            "data": original.data,
            "metadata": original.metadata,
            "causation_id": original.causation_id,
            "correlation_id": original.correlation_id,
        }
        fields.update(change)
        with pytest.raises(DuplicateEventError) as raised:
            store.append("account-1", [NewEvent(**fields)])
        assert raised.value.event_id == original.event_id
        assert raised.value.stream_id == "account-1"
        assert_nothing_written(store, before, "account-1", 1)
        assert store.get_event(original.event_id) == stored

    @pytest.mark.parametrize("expected", [ANY, NO_STREAM, 0])
    def test_the_same_id_in_another_stream_is_refused(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """An event id stored in one stream cannot be appended to another one."""
        store = store_factory()
        event = new_event()
        stored = store.append("account-1", [event]).events[0]
        before = settled_log(store)
        with pytest.raises(DuplicateEventError) as raised:
            store.append("account-2", [event], expected)
        assert raised.value.event_id == event.event_id
        assert_nothing_written(store, before, "account-2", 0)
        assert [s.stream_id for s in store.list_streams()] == ["account-1"]
        assert store.get_event(event.event_id) == stored

    def test_an_append_of_stored_and_new_ids_is_refused(self, store_factory: StoreFactory) -> None:
        """An append mixing already stored ids with new ones raises DuplicateEventError."""
        store = store_factory()
        stored = new_events(2)
        store.append("account-1", stored)
        before = settled_log(store)
        fresh = new_events(1, start=3)
        with pytest.raises(DuplicateEventError):
            store.append("account-1", [*stored, *fresh], ANY)
        assert_nothing_written(store, before, "account-1", 2)
        assert store.get_event(fresh[0].event_id) is None
