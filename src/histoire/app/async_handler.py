"""Command handling for asyncio: the CommandHandler's logic, its store operations awaited.

The loading, deciding, retrying and snapshotting are `handler_core`'s, the
same the blocking CommandHandler runs; this module only awaits the requests
they yield on an AsyncEventStore. Conflicts are retried after
`await asyncio.sleep` (a RetryPolicy with its own `sleep` keeps it, for tests).

Cancelling `handle` never leaves half an append: an append is stored whole
or not at all, whatever instant the cancellation hits. A cancelled command
may have been stored: handle it again with the same `command_id` to know.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic

from histoire.app.handler_core import C, E, HandlerCore, Request, S, Steps, T
from histoire.app.results import CommandResult, LoadedState
from histoire.app.retries import RetryPolicy
from histoire.codec.codec import Codec
from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.store.async_protocol import (
    AsyncEventStore,
    read_payloads_page,
    read_stream_page,
)
from histoire.store.protocol import Snapshot

__all__ = ["AsyncCommandHandler"]


async def _run(steps: Steps[T], store: AsyncEventStore, sleep: Callable[[float], None]) -> T:
    """Drive `steps` to their result, awaiting each request as it comes.

    On a store that can pin a connection (`pinned`: PostgreSQL), the requests
    of one call share one pooled connection, given back before a retry's sleep.
    """
    pinned = getattr(store, "pinned", None)
    if pinned is None:
        return await _drive(steps, store, sleep, None)
    async with pinned() as pin:
        return await _drive(steps, store, sleep, pin.release)


async def _drive(
    steps: Steps[T],
    store: AsyncEventStore,
    sleep: Callable[[float], None],
    release: Callable[[], Awaitable[None]] | None,
) -> T:
    reply: Any = None
    failure: Exception | None = None
    while True:
        try:
            request: Request = steps.send(reply) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        name, args = request
        reply = failure = None
        try:
            if name == "read":
                stream_id, first, limit = args
                reply = await read_stream_page(
                    store, stream_id, from_version=first, limit=limit, batch_size=limit
                )
            elif name == "read_payloads":
                stream_id, first, limit = args
                reply = await read_payloads_page(
                    store, stream_id, from_version=first, limit=limit, batch_size=limit
                )
            elif name == "load_snapshot":
                stream_id, owner, schema_version, top = args
                reply = await store.load_snapshot(
                    stream_id, name=owner, schema_version=schema_version, max_version=top
                )
            elif name != "sleep":
                reply = await getattr(store, name)(*args)
            else:
                if release is not None:
                    await release()  # no connection held while waiting to retry
                if sleep is time.sleep:  # the default policy: sleep without blocking the loop
                    await asyncio.sleep(*args)
                else:
                    sleep(*args)
        except Exception as exc:
            failure = exc


class AsyncCommandHandler(HandlerCore[C, S, E], Generic[C, S, E]):
    """Handles commands for the streams of one decider on one AsyncEventStore.

    The same options as CommandHandler: `codec`, `upcasters`, `retry`.
    """

    def __init__(
        self,
        store: AsyncEventStore,
        decider: Decider[C, S, E],
        *,
        codec: Codec | None = None,
        upcasters: Upcasters | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(decider, codec=codec, upcasters=upcasters, retry=retry)
        self.store = store

    async def load(
        self,
        stream_id: str,
        *,
        at_version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> LoadedState[S]:
        """The state of `stream_id`: latest, at version `at_version`, or as of instant `as_of`."""
        return await _run(
            self._load_call(stream_id, at_version, as_of), self.store, self.retry.sleep
        )

    async def handle(
        self,
        stream_id: str,
        command: C,
        *,
        command_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        new_stream: bool = False,
    ) -> CommandResult[S, E]:
        """Decide on `command` against the current state of `stream_id` and store the events.

        As CommandHandler.handle.
        """
        steps = self._handle(
            stream_id, command, command_id, causation_id, correlation_id, metadata, new_stream
        )
        return await _run(steps, self.store, self.retry.sleep)

    async def snapshot(self, stream_id: str) -> Snapshot:
        """Take a snapshot of `stream_id` at its latest version now, save it and return it."""
        return await _run(self._snapshot(stream_id), self.store, self.retry.sleep)
