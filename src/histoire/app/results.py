"""What the command handler gives back: a loaded state, the result of a command."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from histoire.core.messages import Event
from histoire.core.recorded import RecordedEvent

S = TypeVar("S")
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class LoadedState(Generic[S]):
    """A stream's state and the version it was folded up to."""

    stream_id: str
    state: S
    version: int
    """The version reached: the stream's last one, or at most the `at_version` asked for."""
    snapshot_version: int = 0
    """The version of the snapshot the state started from (0: full replay)."""
    past_end: bool = False
    """True when `at_version` asked for more events than the stream holds: `version` is
    then the stream's last version."""


@dataclass(frozen=True, slots=True)
class CommandResult(Generic[S, E]):
    """What handling a command did: the events stored, the new version and state.

    `decided` holds the events as they were read back from the stored bytes
    (equal to those `decide` returned), and `state` is folded from them: the
    state a later load gives.
    """

    stream_id: str
    command_id: uuid.UUID
    events: tuple[RecordedEvent, ...]
    decided: tuple[E, ...]
    version: int
    state: S
    replayed: bool = False
    """True when the command id had been handled before and nothing was stored."""
