"""AppendResult: the named tuple it was, whose events a store may build on first access."""

from __future__ import annotations

import copy
import pickle
import threading
import uuid

import pytest

from histoire import AppendResult, RecordedEvent
from histoire.core.append_result import Unbuilt, build_append_result
from histoire.core.recorded import build_recorded

MICROS = 1_700_000_000_123_456


def _records(stream_id: str, first: int, count: int) -> tuple[RecordedEvent, ...]:
    return tuple(
        build_recorded(
            uuid.UUID(int=first + i), stream_id, first + i, 100 + i, MICROS,
            "bank.Deposited", 1, b"{}", b"{}", None, None,
        )
        for i in range(count)
    )  # fmt: skip


def _eager() -> AppendResult:
    return AppendResult("account-1", 1, 2, 100, 101, _records("account-1", 1, 2))


def _lazy(calls: list[int] | None = None) -> AppendResult:
    def build(stream_id: str, first: int, count: int) -> tuple[RecordedEvent, ...]:
        if calls is not None:
            calls.append(1)
        return _records(stream_id, first, count)

    return build_append_result("account-1", 1, 2, 100, 101, Unbuilt(build, "account-1", 1, 2))


def test_events_built_on_first_access_equal_the_events_given() -> None:
    """A result whose events are built later equals one built with them, field by field."""
    calls: list[int] = []
    lazy = _lazy(calls)
    assert calls == []
    assert lazy == _eager()
    assert lazy.events == _eager().events
    assert type(lazy.events) is tuple
    assert lazy.events is lazy.events
    assert calls == [1], "the events were built more than once"
    assert hash(lazy) == hash(_eager())


def _read_from_threads(result: AppendResult, count: int) -> list[tuple[RecordedEvent, ...]]:
    seen: list[tuple[RecordedEvent, ...]] = []
    barrier = threading.Barrier(count)

    def read() -> None:
        barrier.wait()
        seen.append(result.events)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def test_threads_reading_the_events_at_once_get_equal_events() -> None:
    """Threads that read a lazy result's events at the same time all get the same values."""
    for _ in range(50):
        seen = _read_from_threads(_lazy(), 4)
        assert len(seen) == 4
        assert all(events == _eager().events for events in seen)


@pytest.mark.parametrize("make", [_eager, _lazy], ids=["eager", "lazy"])
def test_it_behaves_as_the_named_tuple_it_was(make: object) -> None:
    """Fields by name and position, unpacking, `_replace`, `_asdict`, repr, pickle, match."""
    result = make()  # type: ignore[operator]
    records = _records("account-1", 1, 2)
    assert result.version == result.last_version == 2
    assert (result.stream_id, result.first_position, result.last_position) == (
        "account-1",
        100,
        101,
    )
    stream_id, first_version, last_version, first_position, last_position, events = result
    assert (stream_id, first_version, last_version, first_position, last_position) == (
        "account-1",
        1,
        2,
        100,
        101,
    )
    assert events == records
    assert len(result) == 6 and result[0] == "account-1" and result[-1] == records
    assert result._fields == (
        "stream_id",
        "first_version",
        "last_version",
        "first_position",
        "last_position",
        "events",
    )
    assert result._asdict()["events"] == records
    assert result._replace(stream_id="account-2").stream_id == "account-2"
    assert result._replace(stream_id="account-2").events == records
    with pytest.raises(ValueError):
        result._replace(version=3)
    assert repr(result).startswith("AppendResult(stream_id='account-1', first_version=1, ")
    assert "events=(RecordedEvent(account-1@1" in repr(result)
    assert pickle.loads(pickle.dumps(result)) == result
    assert copy.copy(result) == result
    match result:
        case AppendResult("account-1", 1, 2, _, _, (first, second)):
            assert (first.version, second.version) == (1, 2)
        case _:
            pytest.fail("the result did not match by position")


def test_it_is_immutable() -> None:
    """Its fields cannot be set, like a named tuple's."""
    result = _lazy()
    with pytest.raises(AttributeError):
        result.stream_id = "account-2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.events = ()  # type: ignore[misc]


def test_it_is_built_by_keywords_too() -> None:
    """`events` is a keyword of the constructor, as it was of the named tuple."""
    records = _records("account-1", 1, 2)
    by_name = AppendResult(
        stream_id="account-1",
        first_version=1,
        last_version=2,
        first_position=100,
        last_position=101,
        events=records,
    )
    assert by_name == _eager()
    assert by_name != by_name._replace(last_position=102)
