"""Store contract tests of hostile input: what a careless caller passes never breaks a store.

Every refusal is an InvalidInputError naming what was wrong, never a driver's
or Python's own exception, and one caller's bad event never fails another
caller's good append, however the store batches them.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from histoire.core.errors import (
    EventTooLargeError,
    InvalidEnvelopeError,
    InvalidInputError,
    InvalidStreamIdError,
)
from histoire.core.recorded import START, Checkpoint, NewEvent
from histoire.store.checks import DEFAULT_MAX_EVENT_SIZE
from histoire.store.protocol import EventStore, Snapshot
from histoire.testing._contract.support import (
    StoreFactory,
    assert_nothing_written,
    in_threads,
    new_event,
    new_events,
    settled_log,
    within,
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# Each: the NewEvent fields to change, and the field the error must name.
BAD_ENVELOPES: dict[str, tuple[dict[str, Any], str]] = {
    "schema-2**63": ({"schema_version": 2**63}, "schema_version"),
    "schema-2**31": ({"schema_version": 2**31}, "schema_version"),
    "schema-true": ({"schema_version": True}, "schema_version"),
    "schema-float": ({"schema_version": 1.0}, "schema_version"),
    "schema-0": ({"schema_version": 0}, "schema_version"),
    "type-surrogate": ({"type": "x\ud800"}, "type"),
    "type-nul": ({"type": "a\x00b"}, "type"),
    "type-newline": ({"type": "a\nb"}, "type"),
    "type-edge-space": ({"type": "t "}, "type"),
    "type-empty": ({"type": ""}, "type"),
    "type-int": ({"type": 42}, "type"),
    "type-too-long": ({"type": "t" * 201}, "type"),
    "id-none": ({"event_id": None}, "event_id"),
    "id-str": ({"event_id": str(uuid.uuid4())}, "event_id"),
    "causation-int": ({"causation_id": 7}, "causation_id"),
    "correlation-str": ({"correlation_id": "abc"}, "correlation_id"),
    "data-none": ({"data": None}, "data"),
    "data-str": ({"data": "{}"}, "data"),
    "metadata-3000-deep": ({"metadata": _nested(3000)}, "metadata"),
    "metadata-33-deep": ({"metadata": _nested(33)}, "metadata"),
    "metadata-surrogate": ({"metadata": {"who": "\ud800"}}, "metadata"),
    "metadata-tuple-key": ({"metadata": {("a",): 1}}, "metadata"),
    "metadata-object": ({"metadata": {"a": object()}}, "metadata"),
    "metadata-list": ({"metadata": [1, 2]}, "metadata"),
    "metadata-none": ({"metadata": None}, "metadata"),
    "metadata-float-7.2e16": ({"metadata": {"n": [7.205759403792237e16]}}, "metadata"),
    "metadata-float-1e300": ({"metadata": {"n": -1e300}}, "metadata"),
}

# The bad events of the issue that failed other callers' appends on SQLite.
POISON = ["schema-2**63", "type-surrogate", "metadata-3000-deep", "type-nul", "data-str"]


def bad_event(change: dict[str, Any]) -> NewEvent:
    """A NewEvent with `change` applied, bypassing nothing but msgspec's own checks."""
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "type": "contract.Happened",
        "schema_version": 1,
        "data": b"{}",
        "metadata": {},
    }
    fields.update(change)
    return NewEvent(**fields)


class HostileInputContract:
    """Bad arguments: refused with a clear error, and never at another caller's expense."""

    # -- the envelope of an event --------------------------------------------------

    @pytest.mark.parametrize("case", list(BAD_ENVELOPES), ids=list(BAD_ENVELOPES))
    def test_an_envelope_the_store_cannot_keep_is_refused_naming_the_field(
        self, store_factory: StoreFactory, case: str
    ) -> None:
        """A NewEvent field of the wrong kind or out of range raises InvalidEnvelopeError
        naming that field, and nothing of the append is stored."""
        change, field = BAD_ENVELOPES[case]
        store = store_factory()
        store.append("account-1", new_events(1))
        before = settled_log(store)
        good = new_event()
        with pytest.raises(InvalidEnvelopeError) as raised:
            store.append("account-1", [good, bad_event(change)])
        assert raised.value.field == field
        assert field in str(raised.value)
        assert_nothing_written(store, before, "account-1", 1)
        assert store.get_event(good.event_id) is None

    def test_metadata_nested_32_deep_is_kept(self, store_factory: StoreFactory) -> None:
        """Metadata nested up to 32 levels is stored and read back."""
        store = store_factory()
        metadata = _nested(32)
        event = store.append("account-1", [new_event(metadata=metadata)]).events[0]
        assert store.get_event(event.event_id) == event
        assert dict(event.metadata) == metadata

    @pytest.mark.parametrize("case", POISON)
    def test_a_bad_event_never_fails_the_good_appends_of_other_callers(
        self, store_factory: StoreFactory, case: str
    ) -> None:
        """Six threads append good events while a seventh appends bad ones: every good
        append succeeds, every bad one raises InvalidEnvelopeError."""
        store = store_factory()
        rounds = 25
        bad_outcomes: list[BaseException | None] = []

        def work(index: int) -> None:
            for _ in range(rounds):
                if index == 6:
                    try:
                        store.append("poison-1", [bad_event(BAD_ENVELOPES[case][0])])
                    except BaseException as exc:
                        bad_outcomes.append(exc)
                    else:
                        bad_outcomes.append(None)
                else:
                    store.append(f"good-{index}", new_events(1))

        assert in_threads(7, work) == []
        assert all(isinstance(e, InvalidEnvelopeError) for e in bad_outcomes), bad_outcomes
        assert len(bad_outcomes) == rounds
        assert [store.stream_version(f"good-{i}") for i in range(6)] == [rounds] * 6
        assert store.stream_version("poison-1") == 0

    # -- the maximum event size ----------------------------------------------------

    def test_an_event_over_the_default_size_is_refused(self, store_factory: StoreFactory) -> None:
        """By default an event of 1 MiB of data is stored, one byte more is refused with
        EventTooLargeError carrying the size and the limit."""
        store = store_factory()
        assert DEFAULT_MAX_EVENT_SIZE == 1024 * 1024
        kept = store.append("blob-1", [new_event(data=b"x" * DEFAULT_MAX_EVENT_SIZE)])
        assert len(bytes(kept.events[0].data)) == DEFAULT_MAX_EVENT_SIZE
        before = settled_log(store)
        with pytest.raises(EventTooLargeError) as raised:
            store.append("blob-1", [new_event(data=b"x" * (DEFAULT_MAX_EVENT_SIZE + 1))])
        assert (raised.value.size, raised.value.limit) == (
            DEFAULT_MAX_EVENT_SIZE + 1,
            DEFAULT_MAX_EVENT_SIZE,
        )
        assert isinstance(raised.value, InvalidInputError)
        assert_nothing_written(store, before, "blob-1", 1)

    def test_the_maximum_event_size_is_a_setting_counting_data_and_metadata(
        self, store_factory: StoreFactory
    ) -> None:
        """`max_event_size` bounds the bytes of data plus metadata (as JSON) of each event."""
        store = store_factory(max_event_size=100)
        metadata = {"who": "ada"}  # {"who":"ada"}: 13 bytes as JSON
        store.append("account-1", [new_event(data=b"x" * 87, metadata=metadata)])
        with pytest.raises(EventTooLargeError) as raised:
            store.append("account-1", [new_event(data=b"x" * 88, metadata=metadata)])
        assert (raised.value.size, raised.value.limit) == (101, 100)
        assert store.stream_version("account-1") == 1

    @pytest.mark.parametrize("limit", [0, -1, True, 1.5, "1000"])
    def test_a_maximum_event_size_that_is_not_a_positive_int_is_refused(
        self, store_factory: StoreFactory, limit: object
    ) -> None:
        """A store is not opened with a max_event_size below 1 or of the wrong kind."""
        with pytest.raises(InvalidInputError, match="max_event_size"):
            store_factory(max_event_size=limit)

    # -- what append returns -------------------------------------------------------

    def test_append_returns_the_metadata_that_reads_give_back(
        self, store_factory: StoreFactory
    ) -> None:
        """The metadata of an AppendResult is the JSON form a read gives, not the dict given."""
        store = store_factory()
        given: dict[Any, Any] = {"legs": ("V1", "V2"), 7: "seven", "nested": {"tags": ("a",)}}
        appended = store.append("account-1", [new_event(metadata=given)]).events[0]
        (stored,) = store.read_stream("account-1")
        expected = {"legs": ["V1", "V2"], "7": "seven", "nested": {"tags": ["a"]}}
        assert dict(appended.metadata) == expected
        assert dict(stored.metadata) == expected
        assert appended == stored

    def test_a_stream_id_with_an_empty_category_is_refused(
        self, store_factory: StoreFactory
    ) -> None:
        """`-abc` has nothing before its first '-': InvalidStreamIdError says so."""
        store = store_factory()
        with pytest.raises(InvalidStreamIdError, match="category"):
            store.append("-abc", new_events(1))
        assert list(store.list_streams()) == []

    def test_the_category_of_any_valid_stream_id_can_be_filtered_on(
        self, store_factory: StoreFactory
    ) -> None:
        """`ab -1` is a valid stream id; its category `ab ` (with the space) lists it and
        filters the log to it."""
        store = store_factory()
        store.append("ab -1", new_events(1))
        store.append("ab-1", new_events(1))
        settled_log(store)
        assert [s.stream_id for s in store.list_streams(category="ab ")] == ["ab -1"]
        assert [e.stream_id for e in store.read_log(categories=["ab "])] == ["ab -1"]

    # -- read arguments ------------------------------------------------------------

    @pytest.mark.parametrize(
        "read",
        [
            lambda s: list(s.read_stream("account-1", from_version=2**63)),
            lambda s: list(s.read_stream("account-1", from_version=2**63, backward=True)),
            lambda s: list(s.read_stream("account-1", from_version=-1)),
            lambda s: list(s.read_stream("account-1", from_version="1")),
            lambda s: list(s.read_stream("account-1", batch_size=2**63)),
            lambda s: list(s.read_log(batch_size=2**63)),
            lambda s: list(s.read_log(Checkpoint(0, 2**63))),
            lambda s: list(s.read_log(Checkpoint(2**63, 0))),
            lambda s: list(s.read_log(Checkpoint(0, -5))),
            lambda s: list(s.read_log(Checkpoint(-1, 0))),
            lambda s: list(s.read_log((0, 1.5))),
            lambda s: list(s.read_log(5)),
            lambda s: list(s.read_log(categories="account")),
            lambda s: list(s.read_log(types="contract.Happened")),
            lambda s: list(s.read_log(categories=[1])),
            lambda s: list(s.read_log(categories=["account-1"])),
            lambda s: list(s.read_log(types=["t\udcff"])),
            lambda s: list(s.read_log(types=["a\x00"])),
            lambda s: s.get_event("not-a-uuid"),
            lambda s: list(s.list_streams(category=7)),
            lambda s: s.load_snapshot("account-1", schema_version=1, max_version=2**63),
            lambda s: s.save_snapshot(
                Snapshot(stream_id="account-1", version=2**63, schema_version=1, data=b"{}")
            ),
            lambda s: s.save_snapshot(
                Snapshot(stream_id="account-1", version=1, schema_version=2**63, data=b"{}")
            ),
        ],
        ids=[
            "from-version-2**63",
            "from-version-2**63-backward",
            "from-version-negative",
            "from-version-str",
            "stream-batch-2**63",
            "log-batch-2**63",
            "checkpoint-position-2**63",
            "checkpoint-commit-2**63",
            "checkpoint-negative",
            "checkpoint-commit-negative",
            "checkpoint-float",
            "checkpoint-int",
            "categories-str",
            "types-str",
            "categories-int",
            "categories-stream-id",
            "types-surrogate",
            "types-nul",
            "get-event-str",
            "list-streams-int",
            "snapshot-max-version-2**63",
            "snapshot-version-2**63",
            "snapshot-schema-2**63",
        ],
    )
    def test_a_read_argument_out_of_range_is_refused(
        self, store_factory: StoreFactory, read: Callable[[EventStore], object]
    ) -> None:
        """Read arguments of the wrong kind or out of range raise InvalidInputError."""
        store = store_factory()
        store.append("account-1", new_events(3))
        with pytest.raises(InvalidInputError):
            read(store)

    def test_a_set_of_categories_or_types_still_filters(self, store_factory: StoreFactory) -> None:
        """Filters given as a set, a tuple or a dict's keys all work."""
        store = store_factory()
        store.append("account-1", new_events(2, "bank.Opened"))
        store.append("cart-1", new_events(1, "cart.Created"))
        settled_log(store)
        assert len(list(store.read_log(categories={"account"}))) == 2
        assert len(list(store.read_log(types=("cart.Created",)))) == 1
        assert len(list(store.read_log(categories={"cart": 1}.keys()))) == 1

    # -- waiting ---------------------------------------------------------------------

    def test_wait_for_events_refuses_a_nan_timeout(self, store_factory: StoreFactory) -> None:
        """A NaN timeout raises InvalidInputError instead of hanging."""
        store = store_factory()
        with pytest.raises(InvalidInputError, match="timeout"):
            within(10, lambda: store.wait_for_events(START, timeout=math.nan))

    def test_wait_for_events_with_a_negative_timeout_returns_at_once(
        self, store_factory: StoreFactory
    ) -> None:
        """A negative timeout is a deadline already passed: look once, do not wait."""
        store = store_factory()
        started = time.monotonic()
        assert within(10, lambda: store.wait_for_events(START, timeout=-1.0)) is False
        assert time.monotonic() - started < 2

    @pytest.mark.parametrize("timeout", [None, math.inf])
    def test_wait_for_events_without_a_timeout_waits_for_the_next_append(
        self, store_factory: StoreFactory, timeout: float | None
    ) -> None:
        """timeout=None (or infinity) waits without limit, until an event comes."""
        follower, writer = store_factory(), store_factory()
        appender = threading.Timer(0.3, lambda: writer.append("account-1", new_events(1)))
        appender.start()
        try:
            started = time.monotonic()
            assert within(30, lambda: follower.wait_for_events(START, timeout=timeout)) is True
            assert time.monotonic() - started >= 0.2
        finally:
            appender.join()
