"""Command handling on a blocking store: load the state, decide, append with the version read.

On a conflict the handler sleeps, reloads and decides again, as its RetryPolicy
says. A command handled again with the same command id stores nothing more and
returns the first result: event ids are derived from the command id. Nothing
malformed is stored: a Command is checked against its class before `decide`
sees it, and each decided event must read back equal from its stored bytes.

The logic lives in `handler_core`, shared with the asyncio edge
(`async_handler`); this module performs its store operations, blocking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic

from histoire.app.handler_core import (
    C,
    E,
    HandlerCore,
    Request,
    S,
    Steps,
    T,
    event_id_for,
)
from histoire.app.handler_options import check_handle_options
from histoire.app.results import CommandResult, LoadedState
from histoire.app.retries import RetryPolicy
from histoire.codec.codec import Codec
from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.store.protocol import EventStore, Snapshot

# CommandResult and LoadedState live in results.py; they are re-exported here
# for the code that imported them from this module.
__all__ = [
    "CommandHandler",
    "CommandResult",
    "LoadedState",
    "check_handle_options",
    "event_id_for",
]


def _run(steps: Steps[T], store: EventStore, sleep: Callable[[float], None]) -> T:
    """Drive `steps` to their result, performing each request as it comes."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            request: Request = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        name, args = request
        reply = error = None
        try:
            if name == "read":
                stream_id, first, limit = args
                reply = list(
                    store.read_stream(stream_id, from_version=first, limit=limit, batch_size=limit)
                )
            elif name == "read_payloads":
                stream_id, first, limit = args
                reply = list(
                    store.read_payloads(
                        stream_id, from_version=first, limit=limit, batch_size=limit
                    )
                )
            elif name == "append":
                reply = store.append(*args)
            elif name == "load_snapshot":
                stream_id, owner, schema_version, top = args
                reply = store.load_snapshot(
                    stream_id, name=owner, schema_version=schema_version, max_version=top
                )
            elif name == "sleep":
                sleep(*args)
            else:
                reply = getattr(store, name)(*args)
        except Exception as exc:
            error = exc


class CommandHandler(HandlerCore[C, S, E], Generic[C, S, E]):
    """Handles commands for the streams of one decider on one store.

    `retry` says how conflicting commands are retried (default: RetryPolicy(),
    backoff with jitter). `max_retries=n` is deprecated: it means
    RetryPolicy(max_attempts=n + 1).
    """

    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S, E],
        *,
        codec: Codec | None = None,
        upcasters: Upcasters | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(
            decider, codec=codec, upcasters=upcasters, retry=retry, max_retries=max_retries
        )
        self.store = store

    def load(
        self,
        stream_id: str,
        *,
        at_version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> LoadedState[S]:
        """The state of `stream_id`: latest, at version `at_version`, or as of instant `as_of`.

        `at_version` is the last version folded: a stream with fewer events
        loads at its last version, and the result says so (`past_end`).
        """
        return _run(self._load_call(stream_id, at_version, as_of), self.store, self.retry.sleep)

    def handle(
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

        `causation_id` defaults to the command id; `correlation_id` to the
        causation id. `metadata` (who, from where) is stored with every event.
        `new_stream=True` says that `stream_id` should have no events yet (a
        fresh id): the command is decided against the initial state without
        reading the store, and appended with NO_STREAM. If the stream exists
        after all, it is loaded and the command decided again, as after any
        conflict (but without waiting first).
        """
        steps = self._handle(
            stream_id, command, command_id, causation_id, correlation_id, metadata, new_stream
        )
        return _run(steps, self.store, self.retry.sleep)

    def snapshot(self, stream_id: str) -> Snapshot:
        """Take a snapshot of `stream_id` at its latest version now, save it and return it.

        For a migration (prime the snapshots of long streams) or a test. The
        decider must take snapshots (a `state_type` and `SnapshotPolicy(every=N)`):
        loads read snapshots only then. Raises CodecError if the state does not
        read back equal from its encoding (nothing is saved).
        """
        return _run(self._snapshot(stream_id), self.store, self.retry.sleep)
