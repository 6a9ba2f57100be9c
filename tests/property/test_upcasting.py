"""Property: upcaster chains of any length bring any stored version to the current one."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from histoire import Codec, Event, RecordedEvent, UpcastError, Upcasters


@functools.cache
def counter_class(current: int) -> type[Event]:
    """An event class at schema version `current`: a value and the steps that upcast it."""

    class Counted(Event):
        type_name: ClassVar[str] = "test.Counted"
        schema_version: ClassVar[int] = current
        value: int
        steps: list[int]

    return Counted


def step(version: int) -> Any:
    """The upcaster from `version` to `version + 1`: adds the version, records the step."""

    def upcast(payload: dict[str, Any]) -> dict[str, Any]:
        return {"value": payload["value"] + version, "steps": [*payload["steps"], version]}

    return upcast


def codec_for(current: int, missing: int | None = None) -> Codec:
    upcasters = Upcasters()
    for version in range(1, current):
        if version != missing:
            upcasters.register("test.Counted", version, step(version))
    return Codec([counter_class(current)], upcasters)


def stored(version: int, value: int) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id="counter-1",
        version=1,
        position=1,
        recorded_at=dt.datetime.now(dt.UTC),
        type="test.Counted",
        schema_version=version,
        data=json.dumps({"value": value, "steps": []}).encode(),
        metadata={},
        causation_id=None,
        correlation_id=None,
    )


chains = st.integers(min_value=1, max_value=12).flatmap(
    lambda current: st.tuples(st.just(current), st.integers(min_value=1, max_value=current))
)


@settings(max_examples=100, deadline=None)
@given(chain=chains, value=st.integers(min_value=-(2**40), max_value=2**40))
def test_every_step_of_the_chain_runs_once_in_order(chain: tuple[int, int], value: int) -> None:
    """An event stored at version s reads at the current version n through steps s..n-1."""
    current, stored_at = chain
    record = stored(stored_at, value)
    original = bytes(record.data)
    event = codec_for(current).decode(record)
    assert type(event) is counter_class(current)
    assert event.steps == list(range(stored_at, current))  # type: ignore[attr-defined]
    assert event.value == value + sum(range(stored_at, current))  # type: ignore[attr-defined]
    assert bytes(record.data) == original, "upcasting never changes stored bytes"


@settings(max_examples=100, deadline=None)
@given(
    chain=chains.filter(lambda c: c[0] > 1).flatmap(
        lambda c: st.tuples(st.just(c), st.integers(min_value=1, max_value=c[0] - 1))
    )
)
def test_a_hole_in_the_chain_fails_only_the_versions_below_it(
    chain: tuple[tuple[int, int], int],
) -> None:
    """With the upcaster from m missing, versions <= m raise UpcastError and others decode."""
    (current, stored_at), missing = chain
    codec = codec_for(current, missing=missing)
    if stored_at <= missing:
        with pytest.raises(UpcastError) as raised:
            codec.decode(stored(stored_at, 0))
        assert (raised.value.from_version, raised.value.to_version) == (stored_at, current)
        assert f"from v{missing}" in str(raised.value)
    else:
        assert codec.decode(stored(stored_at, 0)).steps == list(range(stored_at, current))  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None)
@given(current=st.integers(min_value=1, max_value=12), ahead=st.integers(min_value=1, max_value=5))
def test_a_version_newer_than_the_code_always_fails(current: int, ahead: int) -> None:
    """An event stored at a version above the class's raises UpcastError, whatever the chain."""
    with pytest.raises(UpcastError, match="newer"):
        codec_for(current).decode(stored(current + ahead, 0))
