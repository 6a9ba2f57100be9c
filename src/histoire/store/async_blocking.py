"""An async store over a store that never blocks for long: memory, and SQLite's reads.

Their reads are lookups in memory or in a local file (microseconds a row),
so they run on the event loop itself, a batch at a time, giving the loop a
turn between batches. What can wait long is each backend's own: SQLite's
appends and snapshot writes go to a writer thread, and waiting for events
is an `asyncio` wait in every backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from typing import Any, Generic, TypeVar

from histoire.core.append_result import AppendResult
from histoire.core.recorded import (
    START,
    Checkpoint,
    LogPayloadRow,
    NewEvent,
    PayloadRow,
    RecordedEvent,
)
from histoire.core.versions import ANY, ExpectedVersion
from histoire.store.protocol import DEFAULT_BATCH_SIZE, EventStore, Snapshot, StreamInfo

T = TypeVar("T")
B = TypeVar("B", bound=EventStore)


async def paced(items: Iterator[T], every: int) -> AsyncIterator[T]:
    """`items`, giving the event loop a turn after every `every` of them."""
    count = 0
    for item in items:
        yield item
        count += 1
        if count == every:
            count = 0
            await asyncio.sleep(0)


def from_any_thread(callback: Callable[[], object]) -> Callable[[], None]:
    """`callback`, callable from any thread: it runs on the running loop, soon after.

    Once the loop is closed, calling it does nothing (nobody waits any more).
    """
    loop = asyncio.get_running_loop()

    def call() -> None:
        with contextlib.suppress(RuntimeError):  # RuntimeError: the loop is closed
            loop.call_soon_threadsafe(callback)

    return call


class AsyncOverBlocking(Generic[B]):
    """The AsyncEventStore operations that run the blocking store's own on the loop.

    `blocking` is the wrapped store (its url, options and checks are the async
    store's). Subclasses add `wait_for_events` and `aclose`.
    """

    def __init__(self, blocking: B) -> None:
        self.blocking = blocking
        self.url = blocking.url

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        # An append that never suspended would let a busy task keep the loop to
        # itself, and no other task could ever come between a load and its append.
        await asyncio.sleep(0)
        return self.blocking.append(stream_id, events, expected_version)

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        records = self.blocking.read_stream(
            stream_id,
            from_version=from_version,
            backward=backward,
            limit=limit,
            batch_size=batch_size,
        )
        return paced(records, batch_size)

    async def read_stream_page(
        self, stream_id: str, *, from_version: int, limit: int, batch_size: int
    ) -> list[RecordedEvent]:
        """Up to `limit` events of a stream from `from_version`, in one list (see
        `async_protocol.read_stream_page`)."""
        return list(
            self.blocking.read_stream(
                stream_id, from_version=from_version, limit=limit, batch_size=batch_size
            )
        )

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[PayloadRow]:
        rows = self.blocking.read_payloads(
            stream_id, from_version=from_version, limit=limit, batch_size=batch_size
        )
        return paced(rows, batch_size)

    async def read_payloads_page(
        self, stream_id: str, *, from_version: int, limit: int, batch_size: int
    ) -> list[PayloadRow]:
        """Up to `limit` payload rows of a stream, in one list (the handler's folds)."""
        return list(
            self.blocking.read_payloads(
                stream_id, from_version=from_version, limit=limit, batch_size=batch_size
            )
        )

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[LogPayloadRow]:
        rows = self.blocking.read_log_payloads(
            after, categories=categories, types=types, limit=limit, batch_size=batch_size
        )
        return paced(rows, batch_size)

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        records = self.blocking.read_log(
            after, categories=categories, types=types, limit=limit, batch_size=batch_size
        )
        return paced(records, batch_size)

    async def stream_version(self, stream_id: str) -> int:
        return self.blocking.stream_version(stream_id)

    async def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        return self.blocking.get_event(event_id)

    def list_streams(self, *, category: str | None = None) -> AsyncIterator[StreamInfo]:
        return paced(self.blocking.list_streams(category=category), DEFAULT_BATCH_SIZE)

    async def head(self) -> Checkpoint:
        return self.blocking.head()

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        self.blocking.save_snapshot(snapshot)

    async def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        return self.blocking.load_snapshot(
            stream_id, name=name, schema_version=schema_version, max_version=max_version
        )

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()  # type: ignore[attr-defined]
