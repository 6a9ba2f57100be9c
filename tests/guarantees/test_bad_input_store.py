"""Bad input, property-based, on memory, SQLite and PostgreSQL: names and metadata.

Any text as a stream id, event type or filter, any value as metadata: stored
and read back exactly, or refused with an InvalidInputError naming what was
wrong, and then nothing of the append is stored. Never a driver's error, never
a crash, never half an append.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histoire import (
    ANY,
    EventStore,
    EventTooLargeError,
    InvalidEnvelopeError,
    InvalidInputError,
    InvalidStreamIdError,
    NewEvent,
    validate_stream_id,
)
from histoire.core.streams import category_of, name_problem
from histoire.testing._contract.support import new_event, settled_log

from .strategies import examples, metadata, names, shown, stored_count

pytestmark = pytest.mark.guarantees

FIXTURE = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.large_base_example,
]


def is_stream_id(value: str) -> bool:
    """Whether histoire accepts `value` as a stream id."""
    try:
        validate_stream_id(value)
    except InvalidStreamIdError:
        return False
    return True


def tail(store: EventStore, stream_id: str) -> tuple[int, Any]:
    """The stream's version and the store's event count: what a failed append leaves alone."""
    return store.stream_version(stream_id), stored_count(store)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE)
@given(stream_id=names)
def test_any_stream_id_is_kept_exactly_or_refused_with_nothing_written(
    store: EventStore, stream_id: str
) -> None:
    """A valid stream id (any printable Unicode, quotes, `;`, `%s`, `--`...) is stored and
    read back byte for byte, under its category; another raises InvalidStreamIdError from
    append, reads and listings alike, and writes nothing."""
    count = stored_count(store)
    if is_stream_id(stream_id):
        before = store.stream_version(stream_id)
        appended = store.append(stream_id, [new_event(), new_event()], ANY).events
        assert [e.stream_id for e in appended] == [stream_id, stream_id]
        assert [e.version for e in appended] == [before + 1, before + 2]
        assert list(store.read_stream(stream_id, from_version=before + 1)) == list(appended)
        back = list(store.read_stream(stream_id, backward=True, limit=2))
        assert back == list(reversed(appended))
        assert store.stream_version(stream_id) == before + 2
        category = category_of(stream_id)
        listed = [s.stream_id for s in store.list_streams(category=category)]
        assert stream_id in listed
        assert all(category_of(s) == category for s in listed)
        assert store.get_event(appended[0].event_id) == appended[0]
        return
    for call in (
        lambda: store.append(stream_id, [new_event()]),
        lambda: list(store.read_stream(stream_id)),
        lambda: store.stream_version(stream_id),
    ):
        with pytest.raises(InvalidStreamIdError):
            call()
    assert stored_count(store) == count


@settings(max_examples=examples(150), deadline=None, suppress_health_check=FIXTURE)
@given(type_name=names, category=names)
def test_any_type_or_filter_name_is_kept_or_refused_and_filters_exactly(
    store: EventStore, type_name: str, category: str
) -> None:
    """An event type of any text is stored and read back exactly, or refused with
    InvalidEnvelopeError naming `type`; a log filter of any text selects exactly the
    events of that type or category, or raises InvalidInputError."""
    stream_id = "guard-" + uuid.uuid4().hex
    good = new_event()
    if name_problem(type_name, 200) is None:
        stored = store.append(stream_id, [good, new_event(type_name)]).events[1]
        assert stored.type == type_name
        assert store.get_event(stored.event_id) == stored
    else:
        version, count = tail(store, stream_id)
        with pytest.raises(InvalidEnvelopeError) as raised:
            store.append(stream_id, [good, new_event(type_name)])
        assert raised.value.field == "type"
        assert tail(store, stream_id) == (version, count)
        assert store.get_event(good.event_id) is None
    settled_log(store)  # PostgreSQL: once older transactions of the server have ended
    for filters in ({"types": [type_name]}, {"categories": [category]}):
        try:
            found = list(store.read_log(**filters))  # type: ignore[arg-type]
        except InvalidInputError:
            continue
        if "types" in filters:
            assert all(e.type == type_name for e in found)
            assert any(e.type == type_name for e in found) == (name_problem(type_name, 200) is None)
        else:
            assert all(category_of(e.stream_id) == category for e in found)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=FIXTURE)
@given(value=metadata)
def test_metadata_is_stored_as_json_or_refused_with_nothing_written(
    store: EventStore, value: Any
) -> None:
    """Metadata that JSON can hold is stored and read back as the append returned it;
    anything else (a NaN, bytes, a set, an object, a 2**64 integer, not a mapping, a lone
    surrogate, NUL for PostgreSQL) raises InvalidEnvelopeError naming `metadata`, and the
    good event appended with it is not stored either."""
    stream_id = "meta-" + uuid.uuid4().hex
    good = new_event(metadata={"who": "ada"})
    bad = NewEvent(
        event_id=uuid.uuid4(),
        type="contract.Happened",
        schema_version=1,
        data=b"{}",
        metadata=value,
    )
    count = stored_count(store)
    try:
        result = store.append(stream_id, [good, bad])
    except InvalidEnvelopeError as exc:
        assert exc.field == "metadata", shown(value)
        assert store.stream_version(stream_id) == 0
        assert store.get_event(good.event_id) is None
        assert stored_count(store) == count
        return
    assert list(store.read_stream(stream_id)) == list(result.events), shown(value)
    assert isinstance(dict(result.events[1].metadata), dict)


def sized_store(store_factory: Any) -> EventStore:
    """One store with max_event_size=64 per test (not per example: each holds connections)."""
    store: EventStore | None = getattr(store_factory, "sized", None)
    if store is None:
        store = store_factory(max_event_size=64)
        store_factory.sized = store
    return store


@settings(max_examples=examples(50), deadline=None, suppress_health_check=FIXTURE)
@given(
    data=st.one_of(
        st.none(), st.text(max_size=3), st.integers(), st.lists(st.binary(), max_size=2)
    ),
    size=st.integers(min_value=-3, max_value=3),
)
def test_wrong_payloads_and_sizes_around_the_limit_are_refused_whole(
    store_factory: Any, data: Any, size: int
) -> None:
    """A payload that is not bytes, or data + metadata one byte over the store's
    max_event_size, is refused, naming the field or the size; at the limit or under it
    the event is stored. The good event of the same append is stored only if all is."""
    store = sized_store(store_factory)
    stream_id = "blob-" + uuid.uuid4().hex
    good = new_event()
    wrong = NewEvent(event_id=uuid.uuid4(), type="contract.Happened", schema_version=1, data=data)
    with pytest.raises(InvalidEnvelopeError) as raised:
        store.append(stream_id, [good, wrong])
    assert raised.value.field == "data"
    assert store.get_event(good.event_id) is None
    # data + metadata as JSON ({"n":1}: 7 bytes) at the limit plus `size`
    sized = new_event(data=b"x" * (64 - 7 + size), metadata={"n": 1})
    if size > 0:
        with pytest.raises(EventTooLargeError) as too_large:
            store.append(stream_id, [good, sized])
        assert (too_large.value.size, too_large.value.limit) == (64 + size, 64)
        assert store.get_event(good.event_id) is None
        assert store.stream_version(stream_id) == 0
    else:
        assert [e.version for e in store.append(stream_id, [good, sized]).events] == [1, 2]
