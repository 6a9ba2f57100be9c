"""Store contract tests of appends: versions, expected versions, invalid input, atomicity."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from histoire.core.errors import (
    ConcurrencyError,
    DuplicateEventError,
    InvalidExpectedVersionError,
    InvalidInputError,
    InvalidStreamIdError,
)
from histoire.core.recorded import START, NewEvent
from histoire.core.versions import ANY, NO_STREAM, STREAM_EXISTS
from histoire.testing._contract.support import (
    StoreFactory,
    assert_nothing_written,
    event_ids,
    new_event,
    new_events,
    settled_log,
)


class AppendContract:
    """Appends: versions, positions, expected versions, invalid input, atomicity."""

    # -- appending: versions and positions ---------------------------------

    def test_append_to_a_new_stream_numbers_its_events_from_1(
        self, store_factory: StoreFactory
    ) -> None:
        """Events appended to a new stream get versions 1..N in the order given."""
        store = store_factory()
        events = new_events(3)
        result = store.append("account-1", events)
        assert [e.version for e in result.events] == [1, 2, 3]
        assert event_ids(result.events) == event_ids(events)
        assert (result.stream_id, result.first_version, result.last_version) == ("account-1", 1, 3)
        assert result.version == 3
        assert store.stream_version("account-1") == 3

    def test_append_result_describes_what_was_stored(self, store_factory: StoreFactory) -> None:
        """The AppendResult's events, versions and positions are those a read gives back."""
        store = store_factory()
        store.append("account-0", new_events(2))
        result = store.append("account-1", new_events(3))
        stored = list(store.read_stream("account-1"))
        assert list(result.events) == stored
        assert result.first_position == stored[0].position
        assert result.last_position == stored[-1].position
        assert result.first_position < result.last_position

    def test_append_result_keeps_what_was_appended_when_the_caller_changes_its_input(
        self, store_factory: StoreFactory
    ) -> None:
        """The result's events, read after the caller changed its list and a bytearray it gave,
        are still what the append stored (a store may build them on first access: SQLite
        does for appends of 16 events or more)."""
        store = store_factory()
        payload = bytearray(b'{"n":9}')
        appends = {
            "account-1": new_events(20),
            "account-2": [new_event(metadata={"who": "ann"}) for _ in range(20)],
            "account-3": [*new_events(19), new_event(data=payload)],  # type: ignore[arg-type]
        }
        expected = {stream_id: event_ids(events) for stream_id, events in appends.items()}
        results = [store.append(s, events, NO_STREAM) for s, events in appends.items()]
        for events in appends.values():
            events.reverse()
            events.append(new_event())
        payload[:] = b'{"n":0}'
        for result in results:
            assert event_ids(result.events) == expected[result.stream_id]
            assert list(result.events) == list(store.read_stream(result.stream_id))
        assert results[2].events[-1].data == b'{"n":9}'

    def test_successive_appends_continue_the_versions_without_a_hole(
        self, store_factory: StoreFactory
    ) -> None:
        """Versions in a stream run 1..N with no hole across appends of any size."""
        store = store_factory()
        for size in (1, 3, 1, 2):
            store.append("account-1", new_events(size))
        assert [e.version for e in store.read_stream("account-1")] == list(range(1, 8))
        assert store.stream_version("account-1") == 7

    def test_positions_increase_along_the_log(self, store_factory: StoreFactory) -> None:
        """Positions are unique and increase along the log, across streams."""
        store = store_factory()
        appended: list[uuid.UUID] = []
        for i in range(6):
            result = store.append(f"{('account', 'cart')[i % 2]}-{i % 3}", new_events(1 + i % 2))
            appended.extend(event_ids(result.events))
        log = settled_log(store)
        assert event_ids(log) == appended
        positions = [e.position for e in log]
        assert positions == sorted(set(positions))
        assert all(p > 0 for p in positions)
        checkpoints = [tuple(e.checkpoint) for e in log]
        assert checkpoints == sorted(set(checkpoints))
        assert all(c > tuple(START) for c in checkpoints)

    def test_the_positions_of_one_append_increase_in_the_order_given(
        self, store_factory: StoreFactory
    ) -> None:
        """The events of one append take increasing positions in the order they were given."""
        store = store_factory()
        result = store.append("account-1", new_events(5))
        positions = [e.position for e in result.events]
        assert positions == sorted(set(positions))

    def test_the_streams_of_a_store_are_kept_apart(self, store_factory: StoreFactory) -> None:
        """Interleaved appends to two streams each read back as their own history."""
        store = store_factory()
        a1 = store.append("account-1", new_events(2))
        b1 = store.append("account-2", new_events(1))
        a2 = store.append("account-1", new_events(1))
        assert event_ids(list(store.read_stream("account-1"))) == event_ids(
            [*a1.events, *a2.events]
        )
        assert event_ids(list(store.read_stream("account-2"))) == event_ids(b1.events)
        assert store.stream_version("account-1") == 3
        assert store.stream_version("account-2") == 1

    def test_a_second_handle_sees_what_the_first_appended(
        self, store_factory: StoreFactory
    ) -> None:
        """Another handle on the same database reads events the first one appended."""
        writer, reader = store_factory(), store_factory()
        result = writer.append("account-1", new_events(2))
        assert list(reader.read_stream("account-1")) == list(result.events)
        assert reader.stream_version("account-1") == 2
        log = settled_log(reader)
        assert tuple(reader.head()) == tuple(log[-1].checkpoint)

    # -- expected versions --------------------------------------------------

    def test_any_appends_whatever_the_version(self, store_factory: StoreFactory) -> None:
        """ANY appends to a missing stream and to an existing one alike."""
        store = store_factory()
        assert store.append("account-1", new_events(1), ANY).version == 1
        assert store.append("account-1", new_events(2), ANY).version == 3

    def test_no_stream_appends_to_a_missing_stream_only(self, store_factory: StoreFactory) -> None:
        """NO_STREAM creates a stream, and a second NO_STREAM append conflicts writing nothing."""
        store = store_factory()
        assert store.append("account-1", new_events(1), NO_STREAM).version == 1
        before = settled_log(store)
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(2), NO_STREAM)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", NO_STREAM, 1)
        assert_nothing_written(store, before, "account-1", 1)

    def test_stream_exists_refuses_a_missing_stream(self, store_factory: StoreFactory) -> None:
        """STREAM_EXISTS conflicts on a missing stream and appends to an existing one."""
        store = store_factory()
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(1), STREAM_EXISTS)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", STREAM_EXISTS, 0)
        assert_nothing_written(store, [], "account-1", 0)
        assert list(store.list_streams()) == []
        store.append("account-1", new_events(1))
        assert store.append("account-1", new_events(1), STREAM_EXISTS).version == 2

    def test_an_exact_version_appends_when_it_matches(self, store_factory: StoreFactory) -> None:
        """An exact expected version equal to the stream's number of events appends."""
        store = store_factory()
        assert store.append("account-1", new_events(2), 0).version == 2
        assert store.append("account-1", new_events(1), 2).version == 3

    @pytest.mark.parametrize("expected", [0, 1, 3, 4])
    def test_a_wrong_exact_version_conflicts_and_writes_nothing(
        self, store_factory: StoreFactory, expected: int
    ) -> None:
        """A wrong exact version raises ConcurrencyError with stream, expected and actual."""
        store = store_factory()
        store.append("account-1", new_events(2))
        before = settled_log(store)
        attempt = new_events(3)
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", attempt, expected)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", expected, 2)
        assert "account-1" in str(error)
        assert_nothing_written(store, before, "account-1", 2)
        assert all(store.get_event(e.event_id) is None for e in attempt)

    def test_an_exact_version_on_a_missing_stream_conflicts(
        self, store_factory: StoreFactory
    ) -> None:
        """Expecting version 2 of a stream that does not exist conflicts with actual 0."""
        store = store_factory()
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(1), 2)
        assert raised.value.actual == 0
        assert_nothing_written(store, [], "account-1", 0)

    @pytest.mark.parametrize("expected", [-1, True, False, "3", 1.0, None])
    def test_an_invalid_expected_version_is_refused(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """An expected version that is not ANY/NO_STREAM/STREAM_EXISTS/int >= 0 writes nothing."""
        store = store_factory()
        store.append("account-1", new_events(1))
        before = settled_log(store)
        with pytest.raises(InvalidExpectedVersionError) as raised:
            store.append("account-1", new_events(1), expected)
        assert raised.value.expected is expected
        assert_nothing_written(store, before, "account-1", 1)

    # -- invalid input --------------------------------------------------------

    @pytest.mark.parametrize(
        "stream_id",
        [
            "",
            "a" * 201,
            "account-\n1",
            "account-1\n",
            "account\t-1",
            " account-1",
            "account-1 ",
            42,
        ],
    )
    def test_an_invalid_stream_id_is_refused(
        self, store_factory: StoreFactory, stream_id: Any
    ) -> None:
        """Empty, too long, control characters, edge spaces: InvalidStreamIdError, no write."""
        store = store_factory()
        with pytest.raises(InvalidStreamIdError):
            store.append(stream_id, new_events(1))
        assert tuple(store.head()) == tuple(START)
        assert settled_log(store) == []
        assert list(store.list_streams()) == []
        with pytest.raises(InvalidStreamIdError):
            store.stream_version(stream_id)
        with pytest.raises(InvalidStreamIdError):
            list(store.read_stream(stream_id))

    def test_a_stream_id_of_200_characters_is_accepted(self, store_factory: StoreFactory) -> None:
        """The longest valid stream id (200 characters) round-trips whole."""
        store = store_factory()
        stream_id = "account-" + "x" * 192
        store.append(stream_id, new_events(1))
        assert [e.stream_id for e in store.read_stream(stream_id)] == [stream_id]

    def test_a_unicode_stream_id_round_trips(self, store_factory: StoreFactory) -> None:
        """A printable non-ASCII stream id is stored and found as given."""
        store = store_factory()
        store.append("compte-élodie-☕", new_events(1))
        assert [s.stream_id for s in store.list_streams()] == ["compte-élodie-☕"]
        assert store.stream_version("compte-élodie-☕") == 1

    def test_appending_no_events_is_refused(self, store_factory: StoreFactory) -> None:
        """Appending an empty list raises InvalidInputError and creates no stream."""
        store = store_factory()
        with pytest.raises(InvalidInputError):
            store.append("account-1", [])
        with pytest.raises(InvalidInputError):
            store.append("account-1", [], NO_STREAM)
        assert list(store.list_streams()) == []
        assert tuple(store.head()) == tuple(START)

    def test_an_id_twice_in_one_append_writes_none_of_its_events(
        self, store_factory: StoreFactory
    ) -> None:
        """An append that holds the same event id twice is refused as a whole."""
        store = store_factory()
        first, second = new_events(2)
        with pytest.raises(InvalidInputError):
            store.append("account-1", [first, second, first])
        assert_nothing_written(store, [], "account-1", 0)
        assert store.get_event(first.event_id) is None
        assert store.get_event(second.event_id) is None

    def test_an_id_twice_is_reported_before_a_wrong_expected_version(
        self, store_factory: StoreFactory
    ) -> None:
        """An append that gives an id twice is malformed whatever the stream's version:
        InvalidInputError, not ConcurrencyError, and nothing written."""
        store = store_factory()
        store.append("account-1", new_events(2))
        before = settled_log(store)
        first, second = new_events(2, start=10)
        for expected in (NO_STREAM, 5, 2):
            with pytest.raises(InvalidInputError, match="given twice"):
                store.append("account-1", [first, second, first], expected)
        assert_nothing_written(store, before, "account-1", 2)

    @pytest.mark.parametrize(
        "change",
        [
            {"metadata": {"when": object()}},
            {"metadata": ["not", "a", "mapping"]},
            {"data": '{"n":1}'},
            {"event_id": "6f1c2d0e-9b7a-4c1e-8f3a-2d5b7e9c1a40"},
            {"causation_id": 42},
            {"type": ""},
            {"schema_version": 0},
        ],
        ids=[
            "metadata-not-json",
            "metadata-list",
            "data-str",
            "id-str",
            "causation-int",
            "type-empty",
            "schema-0",
        ],
    )
    def test_an_event_the_store_cannot_keep_is_refused(
        self, store_factory: StoreFactory, change: dict[str, Any]
    ) -> None:
        """An event with a field of the wrong kind raises InvalidInputError and writes nothing."""
        store = store_factory()
        store.append("account-1", new_events(1))
        before = settled_log(store)
        fields: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "type": "contract.Happened",
            "schema_version": 1,
            "data": b"{}",
            "metadata": {},
        }
        fields.update(change)
        good = new_event()
        with pytest.raises(InvalidInputError):
            store.append("account-1", [good, NewEvent(**fields)])
        assert_nothing_written(store, before, "account-1", 1)
        assert store.get_event(good.event_id) is None

    @pytest.mark.parametrize("batch_size", [0, -1])
    def test_a_batch_size_below_1_is_refused(
        self, store_factory: StoreFactory, batch_size: int
    ) -> None:
        """Reads with a batch size below 1 raise InvalidInputError instead of reading nothing."""
        store = store_factory()
        store.append("account-1", new_events(2))
        with pytest.raises(InvalidInputError):
            list(store.read_stream("account-1", batch_size=batch_size))
        with pytest.raises(InvalidInputError):
            list(store.read_log(batch_size=batch_size))

    def test_a_negative_limit_is_refused(self, store_factory: StoreFactory) -> None:
        """Reads with a negative limit raise InvalidInputError instead of guessing."""
        store = store_factory()
        store.append("account-1", new_events(2))
        with pytest.raises(InvalidInputError):
            list(store.read_stream("account-1", limit=-1))
        with pytest.raises(InvalidInputError):
            list(store.read_log(limit=-1))

    # -- atomicity ------------------------------------------------------------

    def test_an_append_that_fails_midway_writes_none_of_its_events(
        self, store_factory: StoreFactory
    ) -> None:
        """When the third event of an append reuses a stored id, the first two are not stored."""
        store = store_factory()
        taken = store.append("account-2", new_events(1)).events[0]
        store.append("account-1", new_events(1))
        before = settled_log(store)
        attempt = [*new_events(2, start=10), new_event(event_id=taken.event_id), *new_events(1)]
        with pytest.raises(DuplicateEventError):
            store.append("account-1", attempt)
        assert_nothing_written(store, before, "account-1", 1)
        assert [store.get_event(e.event_id) for e in attempt[:2]] == [None, None]
        assert store.get_event(taken.event_id) == taken

    def test_a_conflicting_append_writes_none_of_its_events(
        self, store_factory: StoreFactory
    ) -> None:
        """A conflicting append of many events leaves no trace, and the stream goes on after it."""
        store = store_factory()
        store.append("account-1", new_events(1))
        before = settled_log(store)
        attempt = new_events(5)
        with pytest.raises(ConcurrencyError):
            store.append("account-1", attempt, NO_STREAM)
        assert_nothing_written(store, before, "account-1", 1)
        assert all(store.get_event(e.event_id) is None for e in attempt)
        assert store.append("account-1", attempt, 1).version == 6
