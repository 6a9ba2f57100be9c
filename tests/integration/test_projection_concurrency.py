"""Under 8 writer processes on PostgreSQL, a live projection never misses or doubles an event.

The projection checks, for every stream, that each event it gets is the one
after the last it got (version n + 1): a skip, a double or a stream out of
order stops it with the error. In the end each stream's document says it saw
every version once.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import random
import threading
import time
import uuid
from typing import ClassVar

import pytest

from histoire import (
    Codec,
    Event,
    EventRegistry,
    NewEvent,
    Projection,
    ProjectionContext,
    ProjectionRunner,
    read_model,
    wait_for_projection,
)
from histoire.store.postgres import PostgresEventStore

from .._services import fresh_postgres_schema, postgres_url_or_skip

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 8
SECONDS = 3.0
STREAMS = [f"busy-{n}" for n in range(3)] + [f"calm-{n}" for n in range(30)]


class Ticked(Event):
    type_name: ClassVar[str] = "test.Ticked"
    writer: int


def write_for_a_while(url: str, schema: str, seed: int) -> int:
    """Append 1 to 5 events at a time with ANY, mostly to the busy streams; how many."""
    rng = random.Random(seed)
    store = PostgresEventStore(url, schema=schema, pool_min=1, pool_max=1)
    count = 0
    try:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            stream = rng.choice(STREAMS[:3]) if rng.random() < 0.7 else rng.choice(STREAMS)
            events = [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type=Ticked.type_name,
                    schema_version=1,
                    data=b'{"writer":%d}' % seed,
                )
                for _ in range(rng.randint(1, 5))
            ]
            store.append(stream, events)
            count += len(events)
    finally:
        store.close()
    return count


def sequence_checker() -> Projection:
    projection = Projection("sequences")

    @projection.on(Ticked)
    def check(event: Ticked, ctx: ProjectionContext) -> None:
        streams = ctx.documents("streams")
        seen = streams.get(ctx.record.stream_id) or {"version": 0, "count": 0}
        if ctx.record.version != seen["version"] + 1:
            raise RuntimeError(
                f"{ctx.record.stream_id}: got version {ctx.record.version} after {seen['version']}"
            )
        streams.put(
            ctx.record.stream_id, {"version": ctx.record.version, "count": seen["count"] + 1}
        )

    return projection


def test_a_live_projection_sees_every_event_once_in_order_under_8_writers() -> None:
    """Every stream's events reach the live view once each, in version order."""
    url = postgres_url_or_skip(private=True)
    schema = fresh_postgres_schema(url)
    store = PostgresEventStore(url, schema=schema)
    projection = sequence_checker()
    runner = ProjectionRunner(
        store, projection, codec=Codec(EventRegistry([Ticked])), batch_size=100
    )
    stop = threading.Event()
    reports = []
    follower = threading.Thread(target=lambda: reports.append(runner.run(live=True, stop=stop)))
    follower.start()
    try:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
            written = sum(
                pool.map(write_for_a_while, [url] * WRITERS, [schema] * WRITERS, range(WRITERS))
            )
        assert wait_for_projection(store, "sequences", store.head(), timeout=60)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert reports and reports[0].failure is None, reports[0].failure
    with read_model(store, projection) as model:
        streams = dict(model.documents("streams"))
    assert sum(doc["count"] for doc in streams.values()) == written
    for stream_id, doc in streams.items():
        assert doc["count"] == doc["version"] == store.stream_version(stream_id)
    store.close()
