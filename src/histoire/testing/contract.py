"""The contract every EventStore backend passes: one suite, shipped with the package.

A backend, ours or a third party's, subclasses `EventStoreContract` in its own
tests and provides a `store_factory` fixture: a callable that returns an open
EventStore on a fresh, empty database, and, called again within the same test,
another handle on that SAME database. The fixture closes what it opened::

    import pytest
    from histoire.testing.contract import EventStoreContract

    @pytest.fixture
    def store_factory(tmp_path):
        opened = []

        def make():
            store = MyEventStore(tmp_path / "events")
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

    class TestMyEventStore(EventStoreContract):
        pass

The suite asks only what DESIGN.md promises of every backend. It never assumes
that positions are contiguous or that `Checkpoint.commit` is 0: checkpoints are
compared as tuples, and the log is read in the order the store gives it.
Immutability enforced by the database itself is tested per backend, with that
backend's own driver.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from histoire.core.errors import (
    ConcurrencyError,
    DuplicateEventError,
    HistoireError,
    InvalidExpectedVersionError,
    InvalidInputError,
    InvalidStreamIdError,
)
from histoire.core.recorded import START, AppendResult, NewEvent, RecordedEvent
from histoire.core.versions import ANY, NO_STREAM, STREAM_EXISTS
from histoire.store.protocol import EventStore, Snapshot

__all__ = ["EventStoreContract", "StoreFactory", "new_event", "new_events"]

StoreFactory = Callable[[], EventStore]
"""Returns a handle on the database under test; every call, the same database."""

SETTLE_TIMEOUT = 30.0
"""How long an appended event may take to show in the log (see `_settled_log`)."""

CLOCK_TOLERANCE = dt.timedelta(seconds=60)
"""How far `recorded_at` may stray from the test's clock (a server's clock may differ)."""


def new_event(
    type: str = "contract.Happened",
    data: bytes | None = None,
    *,
    event_id: uuid.UUID | None = None,
    schema_version: int = 1,
    metadata: Mapping[str, Any] | None = None,
    causation_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
) -> NewEvent:
    """A NewEvent with a fresh id, ready to append."""
    return NewEvent(
        event_id=event_id or uuid.uuid4(),
        type=type,
        schema_version=schema_version,
        data=b'{"n":0}' if data is None else data,
        metadata=dict(metadata) if metadata else {},
        causation_id=causation_id,
        correlation_id=correlation_id,
    )


def new_events(count: int, type: str = "contract.Happened", start: int = 1) -> list[NewEvent]:
    """`count` NewEvents with fresh ids and payloads `{"n": start}`, `{"n": start + 1}`..."""
    return [new_event(type, b'{"n":%d}' % n) for n in range(start, start + count)]


def _ids(events: Sequence[NewEvent | RecordedEvent]) -> list[uuid.UUID]:
    return [e.event_id for e in events]


def _settled_log(store: EventStore) -> list[RecordedEvent]:
    """The whole log, once it shows every stored event.

    A follower may see an event a moment after its append returned: on
    PostgreSQL, only once every older transaction of the server has ended. The
    streams' versions add up to the number of stored events, so wait for that.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        log = list(store.read_log())
        stored = sum(info.version for info in store.list_streams())
        if len(log) == stored or time.monotonic() > deadline:
            return log
        time.sleep(0.01)


def _assert_nothing_written(
    store: EventStore, before: list[RecordedEvent], stream_id: str, version: int
) -> None:
    assert store.stream_version(stream_id) == version
    assert _settled_log(store) == before, "the log changed although the append failed"


def _in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run `target(i)` in `count` threads started together; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a thread of the test is stuck"
    return errors


class EventStoreContract:
    """What every EventStore must do; subclass it and provide a `store_factory` fixture."""

    # -- appending: versions and positions ---------------------------------

    def test_append_to_a_new_stream_numbers_its_events_from_1(
        self, store_factory: StoreFactory
    ) -> None:
        """Events appended to a new stream get versions 1..N in the order given."""
        store = store_factory()
        events = new_events(3)
        result = store.append("account-1", events)
        assert [e.version for e in result.events] == [1, 2, 3]
        assert _ids(result.events) == _ids(events)
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
            appended.extend(_ids(result.events))
        log = _settled_log(store)
        assert _ids(log) == appended
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
        assert _ids(list(store.read_stream("account-1"))) == _ids([*a1.events, *a2.events])
        assert _ids(list(store.read_stream("account-2"))) == _ids(b1.events)
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
        log = _settled_log(reader)
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
        before = _settled_log(store)
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(2), NO_STREAM)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", NO_STREAM, 1)
        _assert_nothing_written(store, before, "account-1", 1)

    def test_stream_exists_refuses_a_missing_stream(self, store_factory: StoreFactory) -> None:
        """STREAM_EXISTS conflicts on a missing stream and appends to an existing one."""
        store = store_factory()
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(1), STREAM_EXISTS)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", STREAM_EXISTS, 0)
        _assert_nothing_written(store, [], "account-1", 0)
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
        before = _settled_log(store)
        attempt = new_events(3)
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", attempt, expected)
        error = raised.value
        assert (error.stream_id, error.expected, error.actual) == ("account-1", expected, 2)
        assert "account-1" in str(error)
        _assert_nothing_written(store, before, "account-1", 2)
        assert all(store.get_event(e.event_id) is None for e in attempt)

    def test_an_exact_version_on_a_missing_stream_conflicts(
        self, store_factory: StoreFactory
    ) -> None:
        """Expecting version 2 of a stream that does not exist conflicts with actual 0."""
        store = store_factory()
        with pytest.raises(ConcurrencyError) as raised:
            store.append("account-1", new_events(1), 2)
        assert raised.value.actual == 0
        _assert_nothing_written(store, [], "account-1", 0)

    @pytest.mark.parametrize("expected", [-1, True, False, "3", 1.0, None])
    def test_an_invalid_expected_version_is_refused(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """An expected version that is not ANY/NO_STREAM/STREAM_EXISTS/int >= 0 writes nothing."""
        store = store_factory()
        store.append("account-1", new_events(1))
        before = _settled_log(store)
        with pytest.raises(InvalidExpectedVersionError) as raised:
            store.append("account-1", new_events(1), expected)
        assert raised.value.expected is expected
        _assert_nothing_written(store, before, "account-1", 1)

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
        assert _settled_log(store) == []
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
        _assert_nothing_written(store, [], "account-1", 0)
        assert store.get_event(first.event_id) is None
        assert store.get_event(second.event_id) is None

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
        before = _settled_log(store)
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
        _assert_nothing_written(store, before, "account-1", 1)
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
        before = _settled_log(store)
        attempt = [*new_events(2, start=10), new_event(event_id=taken.event_id), *new_events(1)]
        with pytest.raises(DuplicateEventError):
            store.append("account-1", attempt)
        _assert_nothing_written(store, before, "account-1", 1)
        assert [store.get_event(e.event_id) for e in attempt[:2]] == [None, None]
        assert store.get_event(taken.event_id) == taken

    def test_a_conflicting_append_writes_none_of_its_events(
        self, store_factory: StoreFactory
    ) -> None:
        """A conflicting append of many events leaves no trace, and the stream goes on after it."""
        store = store_factory()
        store.append("account-1", new_events(1))
        before = _settled_log(store)
        attempt = new_events(5)
        with pytest.raises(ConcurrencyError):
            store.append("account-1", attempt, NO_STREAM)
        _assert_nothing_written(store, before, "account-1", 1)
        assert all(store.get_event(e.event_id) is None for e in attempt)
        assert store.append("account-1", attempt, 1).version == 6

    # -- idempotent appends -----------------------------------------------------

    @pytest.mark.parametrize("expected", [ANY, NO_STREAM, 0])
    def test_appending_the_same_events_again_returns_the_first_result(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """The same ids, content and place appended again give the first result, writing nothing."""
        store = store_factory()
        events = [new_event(metadata={"user": "ada"}), new_event("contract.Other", b"[1,2]")]
        first = store.append("account-1", events, expected)
        before = _settled_log(store)
        again = store.append("account-1", events, expected)
        assert again == first
        _assert_nothing_written(store, before, "account-1", 2)
        assert len(_settled_log(store)) == 2

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
        before = _settled_log(store)
        assert store.append("account-1", events, 1) == first
        assert store.append("account-1", events, ANY) == first
        assert store.append("account-1", events, STREAM_EXISTS) == first
        _assert_nothing_written(store, before, "account-1", 6)

    def test_the_same_ids_expected_at_another_place_are_refused(
        self, store_factory: StoreFactory
    ) -> None:
        """Stored ids appended again at another exact version raise DuplicateEventError."""
        store = store_factory()
        events = new_events(2)
        store.append("account-1", events, NO_STREAM)
        store.append("account-1", new_events(1))
        before = _settled_log(store)
        for expected in (1, 3):
            with pytest.raises(DuplicateEventError):
                store.append("account-1", events, expected)
        _assert_nothing_written(store, before, "account-1", 3)

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
        before = _settled_log(store)
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
        _assert_nothing_written(store, before, "account-1", 1)
        assert store.get_event(original.event_id) == stored

    @pytest.mark.parametrize("expected", [ANY, NO_STREAM, 0])
    def test_the_same_id_in_another_stream_is_refused(
        self, store_factory: StoreFactory, expected: Any
    ) -> None:
        """An event id stored in one stream cannot be appended to another one."""
        store = store_factory()
        event = new_event()
        stored = store.append("account-1", [event]).events[0]
        before = _settled_log(store)
        with pytest.raises(DuplicateEventError) as raised:
            store.append("account-2", [event], expected)
        assert raised.value.event_id == event.event_id
        _assert_nothing_written(store, before, "account-2", 0)
        assert [s.stream_id for s in store.list_streams()] == ["account-1"]
        assert store.get_event(event.event_id) == stored

    def test_an_append_of_stored_and_new_ids_is_refused(self, store_factory: StoreFactory) -> None:
        """An append mixing already stored ids with new ones raises DuplicateEventError."""
        store = store_factory()
        stored = new_events(2)
        store.append("account-1", stored)
        before = _settled_log(store)
        fresh = new_events(1, start=3)
        with pytest.raises(DuplicateEventError):
            store.append("account-1", [*stored, *fresh], ANY)
        _assert_nothing_written(store, before, "account-1", 2)
        assert store.get_event(fresh[0].event_id) is None

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
        assert _ids(read) == _ids(events)
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
        assert _ids(forward) == _ids(events)
        backward = list(store.read_stream("account-1", backward=True, batch_size=batch_size))
        assert _ids(backward) == _ids(events)[::-1]
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

    def _fill(self, store: EventStore) -> list[RecordedEvent]:
        """Append a small mixed history; return the events as appended, once all show in the log."""
        recorded: list[RecordedEvent] = []
        plan = [
            ("account-1", "bank.Opened", 1),
            ("cart-1", "cart.Created", 1),
            ("account-1", "bank.Deposited", 2),
            ("order-1", "order.Placed", 1),
            ("account-2", "bank.Opened", 1),
            ("cart-1", "cart.ItemAdded", 3),
            ("account-2", "bank.Deposited", 1),
        ]
        for stream_id, type_name, count in plan:
            recorded.extend(store.append(stream_id, new_events(count, type_name)).events)
        _settled_log(store)
        return recorded

    def test_read_log_gives_every_event_in_append_order(self, store_factory: StoreFactory) -> None:
        """The log from START holds every event, in the order they were appended."""
        store = store_factory()
        appended = self._fill(store)
        log = _settled_log(store)
        assert log == appended

    def test_read_log_after_a_checkpoint_gives_what_follows_it(
        self, store_factory: StoreFactory
    ) -> None:
        """Reading after the checkpoint of the k-th event gives exactly the events after it."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
        for k, event in enumerate(log):
            assert list(store.read_log(event.checkpoint)) == log[k + 1 :]
        assert list(store.read_log(START)) == log

    def test_a_follower_reading_in_pages_sees_the_whole_log_once(
        self, store_factory: StoreFactory
    ) -> None:
        """Resuming after the last checkpoint read, page after page, gives the log exactly once."""
        store = store_factory()
        self._fill(store)
        seen: list[RecordedEvent] = []
        checkpoint = START
        while page := list(store.read_log(checkpoint, limit=3)):
            assert len(page) <= 3
            seen.extend(page)
            checkpoint = page[-1].checkpoint
        assert seen == _settled_log(store)
        assert tuple(checkpoint) == tuple(store.head())

    def test_read_log_filtered_by_categories(self, store_factory: StoreFactory) -> None:
        """A category filter keeps the events of streams of those categories, in log order."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
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
        self._fill(store)
        log = _settled_log(store)
        opened = list(store.read_log(types=["bank.Opened"]))
        assert opened == [e for e in log if e.type == "bank.Opened"]
        assert [e.stream_id for e in opened] == ["account-1", "account-2"]
        both = list(store.read_log(types=("bank.Opened", "cart.ItemAdded")))
        assert both == [e for e in log if e.type in ("bank.Opened", "cart.ItemAdded")]
        assert list(store.read_log(types=["bank.Nothing"])) == []

    def test_read_log_filtered_by_categories_and_types(self, store_factory: StoreFactory) -> None:
        """Category and type filters together keep events that match both."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
        read = list(store.read_log(categories=["account", "cart"], types=["bank.Deposited"]))
        assert read == [e for e in log if e.type == "bank.Deposited"]
        assert len(read) == 3

    def test_read_log_filtered_after_a_checkpoint(self, store_factory: StoreFactory) -> None:
        """Filters apply to what follows a checkpoint only."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
        after = log[2].checkpoint
        read = list(store.read_log(after, categories=["account"]))
        assert read == [e for e in log[3:] if e.category == "account"]

    def test_read_log_with_a_limit(self, store_factory: StoreFactory) -> None:
        """A limit caps how many events a log read gives, filtered or not."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
        assert list(store.read_log(limit=4)) == log[:4]
        assert list(store.read_log(limit=0)) == []
        assert list(store.read_log(limit=100)) == log
        accounts = [e for e in log if e.category == "account"]
        assert list(store.read_log(categories=["account"], limit=2)) == accounts[:2]

    @pytest.mark.parametrize("batch_size", [1, 2, 3])
    def test_read_log_in_tiny_batches(self, store_factory: StoreFactory, batch_size: int) -> None:
        """Tiny batches give the same log, even when filters skip whole batches."""
        store = store_factory()
        self._fill(store)
        log = _settled_log(store)
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
        assert _settled_log(store) == []
        assert tuple(store.head()) == tuple(START)

    # -- head ----------------------------------------------------------------

    def test_head_is_the_checkpoint_of_the_last_event(self, store_factory: StoreFactory) -> None:
        """head() is the checkpoint of the log's last event, and nothing is read after it."""
        store = store_factory()
        heads = [tuple(store.head())]
        for i in range(3):
            store.append(f"account-{i}", new_events(2))
            log = _settled_log(store)
            heads.append(tuple(store.head()))
            assert heads[-1] == tuple(log[-1].checkpoint)
            assert list(store.read_log(store.head())) == []
        assert heads == sorted(set(heads))

    # -- what each event records ------------------------------------------------

    def test_every_recorded_field_round_trips(self, store_factory: StoreFactory) -> None:
        """Every field of an appended event is read back as given, with the store's additions."""
        store = store_factory()
        metadata = {
            "user": "ada",
            "ip": "192.0.2.7",
            "nested": {"roles": ["admin", "audit"], "level": 3, "ratio": 0.25},
            "flags": [True, False, None],
            "unicode": "café ☕ \u00e9\u0301",
            "empty": {},
            "big": 2**53 + 1,
            "negative": -17,
        }
        cause, correlation = uuid.uuid4(), uuid.uuid4()
        event = new_event(
            "bank.Deposited",
            b'{"amount_cents":1250,"currency":"EUR"}',
            schema_version=3,
            metadata=metadata,
            causation_id=cause,
            correlation_id=correlation,
        )
        store.append("account-1", new_events(1))
        before = dt.datetime.now(dt.UTC)
        result = store.append("account-1", [event])
        after = dt.datetime.now(dt.UTC)
        [log_event] = list(store.read_log(_settled_log(store)[0].checkpoint))
        stream_event = list(store.read_stream("account-1"))[-1]
        fetched = store.get_event(event.event_id)
        assert fetched is not None
        for recorded in (result.events[0], log_event, stream_event, fetched):
            assert recorded.event_id == event.event_id
            assert recorded.stream_id == "account-1"
            assert recorded.category == "account"
            assert recorded.version == 2
            assert recorded.position == result.first_position
            assert recorded.type == "bank.Deposited"
            assert recorded.schema_version == 3
            assert bytes(recorded.data) == event.data
            assert dict(recorded.metadata) == metadata
            assert recorded.causation_id == cause
            assert recorded.correlation_id == correlation
            recorded_at = recorded.recorded_at
            assert isinstance(recorded_at, dt.datetime)
            assert recorded_at.tzinfo is not None, "recorded_at must be timezone-aware"
            assert recorded_at.utcoffset() == dt.timedelta(0), "recorded_at must be in UTC"
            assert before - CLOCK_TOLERANCE <= recorded_at <= after + CLOCK_TOLERANCE
        assert log_event == stream_event == fetched == result.events[0]

    def test_optional_fields_read_back_empty(self, store_factory: StoreFactory) -> None:
        """An event with no metadata, causation or correlation reads back with {}, None, None."""
        store = store_factory()
        store.append("account-1", [new_event()])
        [recorded] = list(store.read_stream("account-1"))
        assert dict(recorded.metadata) == {}
        assert recorded.causation_id is None
        assert recorded.correlation_id is None

    def test_payload_bytes_are_stored_unchanged(self, store_factory: StoreFactory) -> None:
        """The payload is given back byte for byte, white space and key order included."""
        store = store_factory()
        payloads = [
            b'{"b": 1,   "a": [1.50, "\\u00e9"]}',
            b'{\n  "z": null\n}',
            '{"text":"日本語 ☕"}'.encode(),
            b"[]",
            b'"just a string"',
        ]
        store.append("account-1", [new_event(data=p) for p in payloads])
        assert [bytes(e.data) for e in store.read_stream("account-1")] == payloads
        assert [bytes(e.data) for e in _settled_log(store)] == payloads

    def test_get_event_finds_a_stored_event_by_id(self, store_factory: StoreFactory) -> None:
        """get_event returns the stored event with that id, and None for an unknown id."""
        store = store_factory()
        stored = store.append("account-1", new_events(3)).events
        assert store.get_event(stored[1].event_id) == stored[1]
        assert store.get_event(uuid.uuid4()) is None

    # -- listing streams -----------------------------------------------------------

    def test_list_streams_gives_each_stream_once_by_id(self, store_factory: StoreFactory) -> None:
        """list_streams gives every stream with its category and version, by stream id."""
        store = store_factory()
        assert list(store.list_streams()) == []
        before = dt.datetime.now(dt.UTC)
        self._fill(store)
        after = dt.datetime.now(dt.UTC)
        streams = list(store.list_streams())
        summary = [(s.stream_id, s.category, s.version) for s in streams]
        assert summary == [
            ("account-1", "account", 3),
            ("account-2", "account", 2),
            ("cart-1", "cart", 4),
            ("order-1", "order", 1),
        ]
        for info in streams:
            assert info.updated_at.utcoffset() == dt.timedelta(0)
            assert before - CLOCK_TOLERANCE <= info.updated_at <= after + CLOCK_TOLERANCE

    def test_list_streams_of_one_category(self, store_factory: StoreFactory) -> None:
        """A category filter lists only the streams of that category."""
        store = store_factory()
        self._fill(store)
        assert [s.stream_id for s in store.list_streams(category="account")] == [
            "account-1",
            "account-2",
        ]
        assert [s.stream_id for s in store.list_streams(category="order")] == ["order-1"]
        assert list(store.list_streams(category="nothing")) == []

    def test_list_streams_shows_the_latest_version(self, store_factory: StoreFactory) -> None:
        """A stream's listed version and last change follow its latest append."""
        store = store_factory()
        store.append("account-1", new_events(1))
        [first] = list(store.list_streams())
        store.append("account-1", new_events(2))
        [later] = list(store.list_streams())
        assert (first.version, later.version) == (1, 3)
        assert later.updated_at >= first.updated_at

    # -- snapshots -------------------------------------------------------------------

    def test_no_snapshot_loads_as_none(self, store_factory: StoreFactory) -> None:
        """A stream with no snapshot loads None."""
        store = store_factory()
        assert store.load_snapshot("account-1", schema_version=1) is None

    def test_a_snapshot_round_trips(self, store_factory: StoreFactory) -> None:
        """A saved snapshot loads back with its stream, version, schema version and data."""
        store = store_factory()
        store.save_snapshot(
            Snapshot(stream_id="account-1", version=5, schema_version=2, data=b'{"balance":7}')
        )
        loaded = store.load_snapshot("account-1", schema_version=2)
        assert loaded is not None
        assert (loaded.stream_id, loaded.version, loaded.schema_version) == ("account-1", 5, 2)
        assert bytes(loaded.data) == b'{"balance":7}'
        if loaded.recorded_at is not None:
            assert loaded.recorded_at.utcoffset() == dt.timedelta(0)

    def test_the_latest_snapshot_not_past_max_version_is_loaded(
        self, store_factory: StoreFactory
    ) -> None:
        """load_snapshot gives the snapshot of highest version at most max_version."""
        store = store_factory()
        for version in (10, 20, 30):
            store.save_snapshot(
                Snapshot(
                    stream_id="account-1", version=version, schema_version=1, data=b"%d" % version
                )
            )

        def version_loaded(max_version: int | None) -> int | None:
            snapshot = store.load_snapshot("account-1", schema_version=1, max_version=max_version)
            return None if snapshot is None else snapshot.version

        assert version_loaded(None) == 30
        assert version_loaded(30) == 30
        assert version_loaded(29) == 20
        assert version_loaded(20) == 20
        assert version_loaded(10) == 10
        assert version_loaded(9) is None

    def test_snapshots_of_another_schema_version_are_not_loaded(
        self, store_factory: StoreFactory
    ) -> None:
        """load_snapshot gives only snapshots of the schema version asked for."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=8, schema_version=1, data=b"1"))
        store.save_snapshot(Snapshot(stream_id="account-1", version=4, schema_version=2, data=b"2"))
        v1 = store.load_snapshot("account-1", schema_version=1)
        v2 = store.load_snapshot("account-1", schema_version=2)
        assert v1 is not None and (v1.version, bytes(v1.data)) == (8, b"1")
        assert v2 is not None and (v2.version, bytes(v2.data)) == (4, b"2")
        assert store.load_snapshot("account-1", schema_version=3) is None

    def test_a_snapshot_saved_again_replaces_the_old_one(self, store_factory: StoreFactory) -> None:
        """Saving a snapshot at the same stream, schema and version replaces it."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"1"))
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"2"))
        loaded = store.load_snapshot("account-1", schema_version=1)
        assert loaded is not None and bytes(loaded.data) == b"2"

    def test_snapshots_belong_to_their_stream(self, store_factory: StoreFactory) -> None:
        """A snapshot of one stream is never loaded for another, nor seen in the log."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"1"))
        assert store.load_snapshot("account-2", schema_version=1) is None
        assert _settled_log(store) == []
        assert tuple(store.head()) == tuple(START)

    def test_a_snapshot_is_seen_by_a_second_handle(self, store_factory: StoreFactory) -> None:
        """A snapshot saved through one handle loads through another."""
        writer, reader = store_factory(), store_factory()
        writer.save_snapshot(
            Snapshot(stream_id="account-1", version=2, schema_version=1, data=b"x")
        )
        loaded = reader.load_snapshot("account-1", schema_version=1)
        assert loaded is not None and loaded.version == 2

    # -- waiting for events ----------------------------------------------------------

    def test_wait_for_events_returns_at_once_when_events_are_there(
        self, store_factory: StoreFactory
    ) -> None:
        """wait_for_events returns True without waiting when events follow the checkpoint."""
        store = store_factory()
        store.append("account-1", new_events(2))
        first = _settled_log(store)[0].checkpoint
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
        head = _settled_log(store)[-1].checkpoint
        assert store.wait_for_events(head, timeout=0.3) is False
        assert time.monotonic() - started >= 0.25

    def test_wait_for_events_wakes_when_another_thread_appends(
        self, store_factory: StoreFactory
    ) -> None:
        """A follower waiting on the head wakes soon after another handle appends."""
        follower, writer = store_factory(), store_factory()
        follower.append("account-1", new_events(1))
        head = _settled_log(follower)[-1].checkpoint

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
        assert [e.stream_id for e in _settled_log(follower)] == ["account-1", "account-2"]

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

        errors = _in_threads(racers, race)
        assert len(results) == 1
        assert len(errors) == racers - 1
        assert all(isinstance(e, ConcurrencyError) and e.actual == 3 for e in errors), errors
        assert _ids(list(store.read_stream("account-1")))[1:] == _ids(results[0].events)
        assert len(_settled_log(store)) == 3

    def test_concurrent_appends_to_one_stream_leave_no_hole(
        self, store_factory: StoreFactory
    ) -> None:
        """Threads appending with ANY to one stream all commit, at versions 1..N."""
        store = store_factory()
        threads, per_thread = 6, 5

        def write(i: int) -> None:
            for _ in range(per_thread):
                store.append("account-1", new_events(2))

        assert _in_threads(threads, write) == []
        versions = [e.version for e in store.read_stream("account-1")]
        assert versions == list(range(1, threads * per_thread * 2 + 1))

    def test_a_follower_never_skips_events_appended_concurrently(
        self, store_factory: StoreFactory
    ) -> None:
        """A follower resuming from its checkpoint while threads write sees each event once."""
        writer, follower = store_factory(), store_factory()
        writers, appends = 4, 15
        total = writers * sum(1 + n % 2 for n in range(appends))
        done = threading.Event()
        seen: list[RecordedEvent] = []
        problems: list[str] = []

        def follow() -> None:
            checkpoint = START
            deadline = None
            while True:
                for event in follower.read_log(checkpoint, batch_size=5):
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

        def write(i: int) -> None:
            for n in range(appends):
                writer.append(f"account-{i}", new_events(1 + n % 2))

        reader = threading.Thread(target=follow)
        reader.start()
        try:
            errors = _in_threads(writers, write)
        finally:
            done.set()
            reader.join(timeout=60)
        assert errors == []
        assert not reader.is_alive()
        assert problems == []
        log = _settled_log(writer)
        assert len(log) == total
        assert _ids(seen) == _ids(log)
        for i in range(writers):
            versions = [e.version for e in writer.read_stream(f"account-{i}")]
            assert versions == list(range(1, len(versions) + 1))

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
        assert len(_settled_log(store)) == 1
