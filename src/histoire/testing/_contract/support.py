"""What the contract suite's tests share: event factories, waiting for the log, threads."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from histoire.core.recorded import NewEvent, RecordedEvent
from histoire.store.protocol import EventStore

T = TypeVar("T")


class StoreFactory(Protocol):
    """Returns a handle on the database under test; every call, the same database.

    Keyword options are the store's own: the suite passes `read_only=True` and
    `max_event_size=N`, which every backend takes (see `open_store`).
    """

    def __call__(self, **options: Any) -> EventStore: ...


SETTLE_TIMEOUT = 30.0
"""How long an appended event may take to show in the log (see `settled_log`)."""

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


def event_ids(events: Sequence[NewEvent | RecordedEvent]) -> list[uuid.UUID]:
    """The ids of `events`, in order."""
    return [e.event_id for e in events]


def settled_log(store: EventStore) -> list[RecordedEvent]:
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


def assert_nothing_written(
    store: EventStore, before: list[RecordedEvent], stream_id: str, version: int
) -> None:
    """Assert that `stream_id` is still at `version` and the log is still `before`."""
    assert store.stream_version(stream_id) == version
    assert settled_log(store) == before, "the log changed although the append failed"


def in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
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


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result (or exception), failing the test if it runs over `seconds`.

    For calls that used to hang: the test fails instead of blocking the suite
    (the stuck call is left behind in a daemon thread).
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"the call was still running after {seconds} s"
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


def fill(store: EventStore) -> list[RecordedEvent]:
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
    settled_log(store)
    return recorded
