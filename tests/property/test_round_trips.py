"""Property: any valid event appended is read back exactly, on the memory and SQLite stores."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histoire import ANY, EventStore, NewEvent, open_store
from histoire.core.streams import name_problem

# NUL aside (PostgreSQL's jsonb cannot hold it, so no store takes it)
json_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    # from 1e16 up JSON writes floats with an exponent, which every store refuses
    # (PostgreSQL's jsonb would give them back as integers)
    | st.floats(min_value=-1e16, max_value=1e16, exclude_min=True, exclude_max=True)
    | st.text(json_chars, max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(json_chars, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
metadata_dicts = st.dictionaries(st.text(json_chars, max_size=10), json_values, max_size=5)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Valid JSON bytes, written in any of the styles a producer might use."""
    value = draw(json_values)
    indent = draw(st.sampled_from([None, 0, 2]))
    separators = draw(st.sampled_from([None, (",", ":"), (", ", ": ")]))
    ascii_only = draw(st.booleans())
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=ascii_only).encode()


type_names = st.text(min_size=1, max_size=40).filter(lambda name: not name_problem(name, 200))
new_events = st.builds(
    NewEvent,
    event_id=st.builds(uuid.uuid4),  # fresh ids: the store outlives each example
    type=type_names,
    schema_version=st.integers(min_value=1, max_value=2**31 - 1),
    data=payloads(),
    metadata=metadata_dicts,
    causation_id=st.none() | st.uuids(),
    correlation_id=st.none() | st.uuids(),
)
categories = st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12
)

_streams = itertools.count()


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventStore]:
    """One store per backend for the whole module; each example writes its own stream."""
    if request.param == "memory":
        store = open_store("memory://")
    else:
        store = open_store(f"sqlite:///{tmp_path_factory.mktemp('round-trips') / 'events.db'}")
    yield store
    store.close()


def fields(event: NewEvent | Any) -> tuple[Any, ...]:
    return (
        event.event_id,
        event.type,
        event.schema_version,
        bytes(event.data),
        dict(event.metadata),
        event.causation_id,
        event.correlation_id,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    category=categories,
    events=st.lists(new_events, min_size=1, max_size=5),
)
def test_appended_events_read_back_exactly(
    store: EventStore, category: str, events: list[NewEvent]
) -> None:
    """Every field of random events (metadata, payload bytes, ids) survives append and read."""
    stream_id = f"{category}-{next(_streams)}"
    head = store.head()
    result = store.append(stream_id, events, ANY)

    by_stream = list(store.read_stream(stream_id))
    by_log = list(store.read_log(head))
    by_id = [store.get_event(e.event_id) for e in events]
    for read in (list(result.events), by_stream, by_log, by_id):
        assert [fields(r) for r in read] == [fields(e) for e in events]
    assert [r.version for r in by_stream] == list(range(1, len(events) + 1))
    assert all(r.stream_id == stream_id and r.category == category for r in by_stream)

    assert store.append(stream_id, events, 0) == result, "a replay must find the same content"
    assert store.stream_version(stream_id) == len(events)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=8))
def test_versions_and_positions_follow_the_appends(store: EventStore, sizes: list[int]) -> None:
    """Appends of any sizes give versions 1..N and increasing positions."""
    stream_id = f"sizes-{next(_streams)}"
    head = store.head()
    ids: list[uuid.UUID] = []
    for size in sizes:
        batch = [
            NewEvent(event_id=uuid.uuid4(), type="t", schema_version=1, data=b"{}")
            for _ in range(size)
        ]
        ids.extend(e.event_id for e in store.append(stream_id, batch).events)
    read = list(store.read_stream(stream_id))
    assert [e.event_id for e in read] == ids
    assert [e.version for e in read] == list(range(1, sum(sizes) + 1))
    positions = [e.position for e in store.read_log(head)]
    assert positions == sorted(set(positions))
