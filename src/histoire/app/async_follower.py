"""The follower for asyncio: `async for` over the log from a checkpoint, live or catching up.

The batching, filtering, consumer groups and checkpoint jumps are the
blocking Follower's own (its `steps`); this module awaits its store
requests on an AsyncEventStore. An idle live follow waits on the store's
`wait_for_events` (LISTEN on PostgreSQL), holding no connection a cancel
would leave behind. Live, it outlives its database going down as the
blocking one does (the call tried again with backoff, from where it was).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import Any, cast

from histoire.app.follower import IDLE_WAIT, Batch, ConsumerGroup, Follower
from histoire.app.lag import FIRST_PAUSE, waiting
from histoire.core.errors import StoreUnavailableError
from histoire.core.recorded import Checkpoint, RecordedEvent
from histoire.store.async_protocol import AsyncEventStore

__all__ = ["AsyncFollower"]


class AsyncFollower:
    """Reads an AsyncEventStore's log after a checkpoint; the Follower's options."""

    def __init__(
        self,
        store: AsyncEventStore,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        group: ConsumerGroup | None = None,
        batch_size: int = 1000,
    ) -> None:
        self.store = store
        # The blocking follower's checks and steps; it never touches a store itself here.
        self._logic = Follower(
            cast(Any, None), categories=categories, types=types, group=group, batch_size=batch_size
        )
        self._logic.pace = float(getattr(store, "live_pace", 0.0))
        self._logic.woken_read = "read_log_woken" if hasattr(store, "read_log_woken") else ""

    async def batches(
        self,
        after: Checkpoint,
        *,
        live: bool = False,
        stop: asyncio.Event | None = None,
        idle_wait: float = IDLE_WAIT,
        heartbeat: float | None = None,
    ) -> AsyncIterator[Batch]:
        """Batches of events after `after`, as Follower.batches; forever if `live`
        (until `stop` is set, or the iterating task is cancelled)."""
        stop = stop or asyncio.Event()
        steps = self._logic.steps(after, live, stop.is_set, idle_wait, heartbeat)
        store = self.store
        reply: Any = None
        while True:
            try:
                name, args, kwargs = steps.send(reply)
            except StopIteration:
                return
            reply = None
            if name == "batch":
                yield args[0]
            elif name == "pause":
                await asyncio.sleep(args[0])
            else:
                pause = FIRST_PAUSE
                while True:
                    try:
                        reply = await self._call(name, args, kwargs)
                        break
                    except StoreUnavailableError as exc:
                        if not live or stop.is_set():
                            raise
                        pause, waited = waiting(f"following {store.url}", exc, pause), pause
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), waited)
                        if stop.is_set():
                            return

    async def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The store's answer to a request of the follower's steps."""
        store = self.store
        if name == "read_log":
            return [record async for record in store.read_log(*args, **kwargs)]
        return await getattr(store, name)(*args, **kwargs)

    async def events(
        self, after: Checkpoint, *, live: bool = True, stop: asyncio.Event | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Each event after `after`, in log order; live by default (until `stop` or cancel)."""
        async for batch in self.batches(after, live=live, stop=stop):
            for event in batch.events:
                yield event
