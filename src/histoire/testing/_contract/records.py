"""Store contract tests of what each recorded event carries, looking events up, listing streams."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from typing import Any

from histoire.testing._contract.support import (
    CLOCK_TOLERANCE,
    StoreFactory,
    fill,
    new_event,
    new_events,
    settled_log,
)


class RecordContract:
    """What each recorded event carries, looking events up, listing streams."""

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
        [log_event] = list(store.read_log(settled_log(store)[0].checkpoint))
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

    def test_every_field_of_events_read_in_batches_matches_the_append(
        self, store_factory: StoreFactory
    ) -> None:
        """Events read in batches, forward, backward and filtered, carry every field of
        what was appended."""
        store = store_factory()
        appended = []
        for n in range(9):
            kind = "contract.Picked" if n % 3 == 0 else "contract.Happened"
            event = new_event(
                kind,
                b'{"n":%d}' % n,
                metadata={"n": n},
                causation_id=uuid.uuid4(),
                correlation_id=uuid.uuid4() if n % 2 else None,
            )
            appended.append(store.append(f"account-{n % 2}", [event]).events[0])
        by_id = {e.event_id: e for e in appended}
        settled_log(store)  # PostgreSQL: every append shows to log readers
        reads = [
            list(store.read_stream("account-0", batch_size=2)),
            list(store.read_stream("account-1", backward=True, batch_size=3)),
            list(store.read_log(batch_size=4)),
            list(store.read_log(types=["contract.Picked"], batch_size=2)),
        ]
        assert [len(r) for r in reads] == [5, 4, 9, 3]
        for read in reads:
            for recorded in reversed(read):
                original = by_id[recorded.event_id]
                assert recorded == original
                assert dict(recorded.metadata) == dict(original.metadata)
                assert recorded.recorded_at == original.recorded_at
                assert recorded.causation_id == original.causation_id
                assert recorded.correlation_id == original.correlation_id

    def test_a_read_event_stands_on_its_own_after_its_store_is_closed(
        self, store_factory: StoreFactory
    ) -> None:
        """Every field of an event read from a stream or the log is there after close()."""
        store = store_factory()
        [appended] = store.append("account-1", [new_event(metadata={"who": "ada"})]).events
        settled_log(store)
        [from_stream] = list(store.read_stream("account-1"))
        [from_log] = list(store.read_log())
        store.close()
        for read in (from_stream, from_log):
            assert read == appended
            assert (read.event_id, read.recorded_at) == (appended.event_id, appended.recorded_at)
            assert dict(read.metadata) == {"who": "ada"}
            assert (read.causation_id, read.correlation_id) == (None, None)

    def test_a_read_event_pickles_whole(self, store_factory: StoreFactory) -> None:
        """A read event survives pickling with every field (a copy needs no store)."""
        store = store_factory()
        [appended] = store.append("account-1", [new_event(metadata={"who": "ada"})]).events
        [read] = list(store.read_stream("account-1"))
        copy = pickle.loads(pickle.dumps(read))
        assert copy == appended
        assert dict(copy.metadata) == {"who": "ada"}
        assert copy.checkpoint == read.checkpoint

    def test_read_payloads_gives_what_a_fold_needs(self, store_factory: StoreFactory) -> None:
        """read_payloads gives each event's (version, type, schema_version, data), as
        read_stream does, from a version, limited, in batches."""
        store = store_factory()
        store.append("account-1", new_events(4))
        store.append("account-2", new_events(2))
        store.append("account-1", [new_event("contract.Other", b'{"x":1}', schema_version=2)])

        def expected(**options: Any) -> list[tuple[int, str, int, bytes]]:
            return [
                (r.version, r.type, r.schema_version, bytes(r.data))
                for r in store.read_stream("account-1", **options)
            ]

        choices: list[dict[str, Any]] = [{}, {"from_version": 3}, {"limit": 2}, {"batch_size": 2}]
        for options in choices:
            rows = [
                (version, kind, schema_version, bytes(data))
                for version, kind, schema_version, data in store.read_payloads(
                    "account-1", **options
                )
            ]
            assert rows == expected(**options)
        assert rows[-1] == (5, "contract.Other", 2, b'{"x":1}')
        assert list(store.read_payloads("account-9")) == []

    def test_read_log_payloads_gives_what_a_fold_of_the_log_needs(
        self, store_factory: StoreFactory
    ) -> None:
        """read_log_payloads gives the events read_log gives, as (commit, position,
        stream_id, version, type, schema_version, data), for every filter and bound."""
        store = store_factory()
        store.append("account-1", new_events(3))
        store.append("cart-1", new_events(2, type="contract.Other"))
        store.append("account-2", [new_event("contract.Other", b'{"x":1}', schema_version=2)])
        store.append("account-1", new_events(2))
        first = settled_log(store)[1].checkpoint
        choices: list[dict[str, Any]] = [
            {},
            {"after": first},
            {"categories": ["account"]},
            {"types": ["contract.Other"]},
            {"categories": ["account"], "types": ["contract.Happened"], "limit": 3},
            {"batch_size": 2},
        ]
        for options in choices:
            expected = [
                (r.commit, r.position, r.stream_id, r.version, r.type, r.schema_version, r.data)
                for r in store.read_log(**options)
            ]
            rows = list(store.read_log_payloads(**options))
            assert [(*row[:6], bytes(row[6])) for row in rows] == [
                (*row[:6], bytes(row[6])) for row in expected
            ], options
        assert len(list(store.read_log_payloads())) == 8

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
        assert [bytes(e.data) for e in settled_log(store)] == payloads

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
        fill(store)
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
        fill(store)
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
