"""What a reaction handler is given: the event's record, and a way to issue commands."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from histoire.app.handler import CommandHandler, CommandResult
from histoire.core.recorded import RecordedEvent

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
