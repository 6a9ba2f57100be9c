"""What a reaction handler is given: the event's record, and a way to issue commands."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from histoire.app.handler import CommandHandler
from histoire.app.reactions.deadlines import CancelDeadline, ScheduleDeadline, deadline_stream
from histoire.app.results import CommandResult
from histoire.core.errors import InvalidInputError
from histoire.core.recorded import RecordedEvent

DEADLINES = "deadlines"
"""The name `issue` knows histoire's deadline decider by."""

_REACTION_NAMESPACE = uuid.UUID("3a0f6c55-2d8e-4b71-9c3e-7e51f0b6d2a9")


def command_id_for(reaction: str, event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the `index`-th command a reaction issues for an event: the same on redelivery."""
    return uuid.uuid5(_REACTION_NAMESPACE, f"{reaction}/{event_id}/{index}")


class ReactionContext:
    """A reaction handler's view of the event it handles, and its way to issue commands."""

    def __init__(
        self,
        reaction: str,
        record: RecordedEvent,
        handlers: Callable[[str], CommandHandler[Any, Any, Any]],
    ) -> None:
        self.reaction = reaction
        self.record = record
        """The stored event being handled: stream id, version, time, metadata, ids."""
        self._handlers = handlers
        self._issued = 0

    def schedule(
        self,
        key: str,
        *,
        at: dt.datetime | None = None,
        after: dt.timedelta | float | None = None,
        payload: Mapping[str, Any] | None = None,
        process: str | None = None,
    ) -> str:
        """Schedule deadline `key` of this reaction, `at` an instant or `after` a delay.

        When it comes, `DeadlineReached` (with `key`, `payload`) is stored on the
        deadline's stream, whose id is returned; scheduling a key again keeps the
        first schedule. `process` names a process manager's stream to notify.
        """
        if (at is None) == (after is None):
            raise InvalidInputError("schedule a deadline with at= or after=, not both or neither")
        if at is None:
            delay = after if isinstance(after, dt.timedelta) else dt.timedelta(seconds=after or 0)
            at = dt.datetime.now(dt.UTC) + delay
        stream_id = deadline_stream(self.reaction, key)
        command = ScheduleDeadline(
            owner=self.reaction, key=key, due_at=at, process=process, payload=dict(payload or {})
        )
        self.issue(DEADLINES, stream_id, command)
        return stream_id

    def cancel(self, key: str) -> None:
        """Cancel deadline `key` of this reaction (nothing if it came or was cancelled)."""
        self.issue(DEADLINES, deadline_stream(self.reaction, key), CancelDeadline())

    def issue(
        self,
        target: str | CommandHandler[Any, Any, Any],
        stream_id: str,
        command: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommandResult[Any, Any]:
        """Handle `command` on `stream_id` with the decider named `target` (or a handler).

        The events it causes carry the triggering event's id as causation id and
        its correlation id (or its own id, if it starts the chain). The command
        id is derived from the reaction, the event and the order of the call,
        so that a redelivered event stores nothing new.
        """
        handler = self._handlers(target) if isinstance(target, str) else target
        record = self.record
        command_id = command_id_for(self.reaction, record.event_id, self._issued)
        self._issued += 1
        return handler.handle(
            stream_id,
            command,
            command_id=command_id,
            causation_id=record.event_id,
            correlation_id=record.correlation_id or record.event_id,
            metadata={"reaction": self.reaction, **(metadata or {})},
        )
