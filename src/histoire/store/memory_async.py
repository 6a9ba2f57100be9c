"""The in-memory store for asyncio: the memory store's events, awaited."""

from __future__ import annotations

import asyncio

from histoire.core.recorded import Checkpoint
from histoire.store.async_blocking import AsyncOverBlocking, from_any_thread
from histoire.store.checks import DEFAULT_MAX_EVENT_SIZE
from histoire.store.memory import MemoryEventStore
from histoire.store.read_checks import validate_checkpoint, wait_timeout

__all__ = ["AsyncMemoryEventStore"]


class AsyncMemoryEventStore(AsyncOverBlocking[MemoryEventStore]):
    """An AsyncEventStore in memory, for tests and experiments; the MemoryEventStore's options.

    `blocking` gives an existing MemoryEventStore to share its events with
    blocking code (say, a projection runner in a thread).
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        read_only: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        blocking: MemoryEventStore | None = None,
    ) -> None:
        if blocking is None:
            blocking = MemoryEventStore(url, read_only=read_only, max_event_size=max_event_size)
        super().__init__(blocking)

    def reopen(
        self, *, read_only: bool = False, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ) -> AsyncMemoryEventStore:
        """Another handle on this store's events, with its own options (say, read-only)."""
        return AsyncMemoryEventStore(
            blocking=self.blocking.reopen(read_only=read_only, max_event_size=max_event_size)
        )

    async def wait_for_events(self, after: Checkpoint, timeout: float | None) -> bool:
        position = validate_checkpoint(after).position
        seconds = wait_timeout(timeout)
        blocking = self.blocking
        appended = asyncio.Event()
        if blocking.head().position > position:
            return True
        remove = blocking.on_append(from_any_thread(appended.set))
        try:
            async with asyncio.timeout(None if seconds == float("inf") else seconds):
                while blocking.head().position <= position:
                    await appended.wait()
                    appended.clear()
            return True
        except TimeoutError:
            return blocking.head().position > position
        finally:
            remove()

    async def aclose(self) -> None:
        self.blocking.close()
