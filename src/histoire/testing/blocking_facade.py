"""A blocking EventStore that drives an AsyncEventStore on a private event loop.

The contract suite is written once, against the blocking EventStore; an async
store runs it through this facade (one suite, two edges)::

    @pytest.fixture
    def store_factory():
        opened = []

        def make(**options):
            store = BlockingFacade(lambda: MyAsyncStore.open(URL, **options))
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

Every call runs as a coroutine on the facade's loop thread, so the suite's
threads become concurrent tasks of one loop, as in an async application.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

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
from histoire.store.async_protocol import AsyncEventStore
from histoire.store.protocol import DEFAULT_BATCH_SIZE, Snapshot, StreamInfo

__all__ = ["BlockingFacade"]

T = TypeVar("T")


async def _next(items: AsyncIterator[T]) -> tuple[bool, T | None]:
    try:
        return True, await anext(items)
    except StopAsyncIteration:
        return False, None


async def _opened(opener: Callable[[], Awaitable[AsyncEventStore] | AsyncEventStore]) -> Any:
    store = opener()
    return await store if isinstance(store, Awaitable) else store


class BlockingFacade:
    """An EventStore whose every call is the wrapped AsyncEventStore's, run to completion.

    `opener` makes the async store (a coroutine function, or a plain one): it is
    called on the facade's loop. `async_store` is the store it made.
    """

    def __init__(self, opener: Callable[[], Awaitable[AsyncEventStore] | AsyncEventStore]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="histoire-blocking-facade", daemon=True
        )
        self._thread.start()
        try:
            self.async_store: AsyncEventStore = self._run(_opened(opener))
        except BaseException:
            self._stop()
            raise
        self.url = self.async_store.url

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        while True:
            more, item = self._run(_next(items))
            if not more:
                return
            yield item

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        result: AppendResult = self._run(
            self.async_store.append(stream_id, events, expected_version)
        )
        return result

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        return self._iterate(
            self.async_store.read_stream(
                stream_id,
                from_version=from_version,
                backward=backward,
                limit=limit,
                batch_size=batch_size,
            )
        )

    def read_payloads(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[PayloadRow]:
        return self._iterate(
            self.async_store.read_payloads(
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
    ) -> Iterator[LogPayloadRow]:
        return self._iterate(
            self.async_store.read_log_payloads(
                after, categories=categories, types=types, limit=limit, batch_size=batch_size
            )
        )

    def read_log(
        self,
        after: Checkpoint = START,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[RecordedEvent]:
        return self._iterate(
            self.async_store.read_log(
                after, categories=categories, types=types, limit=limit, batch_size=batch_size
            )
        )

    def stream_version(self, stream_id: str) -> int:
        version: int = self._run(self.async_store.stream_version(stream_id))
        return version

    def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        found: RecordedEvent | None = self._run(self.async_store.get_event(event_id))
        return found

    def list_streams(self, *, category: str | None = None) -> Iterator[StreamInfo]:
        return self._iterate(self.async_store.list_streams(category=category))

    def head(self) -> Checkpoint:
        checkpoint: Checkpoint = self._run(self.async_store.head())
        return checkpoint

    def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        woken: bool = self._run(self.async_store.wait_for_events(after, timeout))
        return woken

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._run(self.async_store.save_snapshot(snapshot))

    def load_snapshot(
        self,
        stream_id: str,
        *,
        name: str = "",
        schema_version: int,
        max_version: int | None = None,
    ) -> Snapshot | None:
        found: Snapshot | None = self._run(
            self.async_store.load_snapshot(
                stream_id, name=name, schema_version=schema_version, max_version=max_version
            )
        )
        return found

    def close(self) -> None:
        """Close the async store, then stop the loop and its thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self.async_store.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._run(self._loop.shutdown_asyncgens())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
