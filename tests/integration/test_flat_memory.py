"""Reads stream in batches: reading a large log does not hold it in memory."""

from __future__ import annotations

import tracemalloc
import uuid

import pytest

from histoire import EventStore, NewEvent

EVENTS = 60_000
PER_APPEND = 500
PAYLOAD = b'{"sku":"' + b"x" * 200 + b'"}'


def _fill(store: EventStore) -> None:
    for chunk in range(EVENTS // PER_APPEND):
        store.append(
            f"bulk-{chunk % 40}",
            [
                NewEvent(event_id=uuid.uuid4(), type="bulk.Filled", schema_version=1, data=PAYLOAD)
                for _ in range(PER_APPEND)
            ],
        )


# The memory store holds everything in memory by design: not a subject here.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_reading_the_whole_log_keeps_memory_flat(store: EventStore) -> None:
    """Iterating over 60,000 events (about 13 MB of payload) peaks far below the log's size."""
    _fill(store)
    tracemalloc.start()
    try:
        count = 0
        for event in store.read_log(batch_size=500):
            count += 1
            assert event.data == PAYLOAD
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == EVENTS
    log_size = EVENTS * len(PAYLOAD)
    assert peak < log_size / 10, f"peak {peak} bytes while reading a {log_size}-byte log"


# The memory store holds everything in memory by design: not a subject here.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_reading_a_long_stream_keeps_memory_flat(store: EventStore) -> None:
    """Iterating forward and backward over one 20,000-event stream peaks far below its size."""
    for _ in range(40):
        store.append(
            "long-1",
            [
                NewEvent(event_id=uuid.uuid4(), type="bulk.Filled", schema_version=1, data=PAYLOAD)
                for _ in range(PER_APPEND)
            ],
        )
    for backward in (False, True):
        tracemalloc.start()
        try:
            expected = 20_000 if backward else 1
            for event in store.read_stream("long-1", backward=backward, batch_size=200):
                assert event.version == expected
                expected += -1 if backward else 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert expected == (0 if backward else 20_001)
        stream_size = 20_000 * len(PAYLOAD)
        assert peak < stream_size / 10, f"peak {peak} bytes while reading backward={backward}"
