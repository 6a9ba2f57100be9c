"""The AsyncEventStore protocol: the EventStore's operations, awaited.

Every method means what the blocking EventStore's does (`protocol`), with the
same arguments, checks and errors; reads are `async for` iterators. An async
store is a second edge over the same SQL text, row decoding and checks as its
blocking sibling, and passes the same contract suite (`histoire.testing`
drives it through `BlockingFacade`).

Optional methods a store may add for the command handler: `read_stream_page`
and `read_payloads_page` (a page in one await, below), and `pinned()`, an
async context manager in which the calling task's operations share one
connection (with `release()` to give it back early): the PostgreSQL store's,
so that a command's read and append borrow one pooled connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Protocol, runtime_checkable

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
from histoire.store.protocol import DEFAULT_BATCH_SIZE, Snapshot, StreamInfo


async def read_stream_page(
    store: AsyncEventStore, stream_id: str, *, from_version: int, limit: int, batch_size: int
) -> list[RecordedEvent]:
    """Up to `limit` events of a stream from `from_version`, as a list.

    A store may offer it as a method `read_stream_page` (one await for the
    page, not one per event: what the command handler reads with); otherwise
    this reads `read_stream`.
    """
    page = getattr(store, "read_stream_page", None)
    if page is not None:
        events: list[RecordedEvent] = await page(
            stream_id, from_version=from_version, limit=limit, batch_size=batch_size
        )
        return events
    reads = store.read_stream(
        stream_id, from_version=from_version, limit=limit, batch_size=batch_size
    )
    return [record async for record in reads]


async def read_payloads_page(
    store: AsyncEventStore, stream_id: str, *, from_version: int, limit: int, batch_size: int
) -> list[PayloadRow]:
    """Up to `limit` (version, type, schema_version, data) rows of a stream, as a list."""
    page = getattr(store, "read_payloads_page", None)
    if page is not None:
        rows: list[PayloadRow] = await page(
            stream_id, from_version=from_version, limit=limit, batch_size=batch_size
        )
        return rows
    records = await read_stream_page(
        store, stream_id, from_version=from_version, limit=limit, batch_size=batch_size
    )
    return [(r.version, r.type, r.schema_version, r.data) for r in records]


@runtime_checkable
class AsyncEventStore(Protocol):
    """Append-only storage of events in streams, with a global log, for asyncio."""

    url: str

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append `events` atomically if the stream's version meets `expected_version`.

        Cancelling the call never leaves half an append: the events are stored
        all or none (the caller may not learn which: append them again, by the
        same ids, to find out).
        """
        ...

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        """Events of one stream, as `EventStore.read_stream`; arguments checked at the call."""
        ...

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[PayloadRow]:
        """(version, type, schema_version, data) of one stream's events, as
        `EventStore.read_payloads`."""
        ...

    def read_log_payloads(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[LogPayloadRow]:
        """(commit, position, stream_id, version, type, schema_version, data) of the
        log's events, as `EventStore.read_log_payloads`."""
        ...

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[RecordedEvent]:
        """The global log strictly after `after`, as `EventStore.read_log`."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The number of events in `stream_id` (0 if it does not exist)."""
        ...

    async def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        """The stored event with this id, or None."""
        ...

    def list_streams(self, *, category: str | None = None) -> AsyncIterator[StreamInfo]:
        """Every stream (of `category`, if given), by stream id."""
        ...

    async def head(self) -> Checkpoint:
        """The checkpoint of the last event a follower can see now (START if none)."""
        ...

    async def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        """Wait, without blocking the loop, until an event past `after` may be readable.

        As `EventStore.wait_for_events`. Cancelling the wait releases what it held.
        """
        ...

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store (or replace) the snapshot of a stream at a version."""
        ...

    async def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        """The latest snapshot named `name` of `stream_id` at `schema_version`, not past
        `max_version`."""
        ...

    async def aclose(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...
