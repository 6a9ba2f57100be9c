"""Waiting for a projection from asyncio: read-your-own-writes in a request handler.

Projections run on the blocking edge (their runner and read models use the
blocking store's transactions), in a worker process or thread. An async
request handler waits for one without blocking its loop: each look at the
projection's progress runs in a thread, and the pauses between looks are
`asyncio.sleep`.
"""

from __future__ import annotations

import asyncio

from histoire.app.projections.status import reached
from histoire.core.recorded import Checkpoint
from histoire.store.protocol import EventStore

__all__ = ["wait_for_projection_async"]


async def wait_for_projection_async(
    store: EventStore, name: str, checkpoint: Checkpoint, timeout: float = 10.0
) -> bool:
    """Wait until every member of `name`'s serving generation has passed `checkpoint`.

    As `wait_for_projection` (True once reached, False after `timeout`
    seconds, HandlerError if the projection is stopped before it), without
    blocking the event loop. `store` is the blocking store the projection
    runs on. Cancelling the wait abandons it; a look in progress ends in its
    thread and gives its connection back.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.002
    while True:
        if await asyncio.to_thread(reached, store, name, checkpoint):
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
