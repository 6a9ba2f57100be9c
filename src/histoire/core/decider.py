"""The decider: three plain functions that hold all the business logic.

`decide(command, state) -> events` takes decisions (a refusal is an event too);
`evolve(state, event) -> state` folds history into state, starting from
`initial_state()`. Both are pure: no I/O, no clock, no randomness. What a
decision needs from the outside (the time, the stream id) comes in the
command; what a fold needs from the record (when an event was recorded, its
metadata) comes through the optional `evolve_recorded`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from histoire.core.errors import InvalidDecisionError
from histoire.core.messages import Event
from histoire.core.recorded import RecordedEvent

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=Event)


@dataclass(frozen=True, kw_only=True, slots=True)
class SnapshotPolicy:
    """Take a snapshot every `every` events (None: never).

    `state_schema_version` is recorded with each snapshot; a snapshot of another
    schema version is ignored on load and a new one is taken. Bump it whenever
    the shape or the meaning of the state changes.
    """

    every: int | None = None
    state_schema_version: int = 1

    def __post_init__(self) -> None:
        if self.every is not None and (
            not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1
        ):
            raise ValueError(
                f"SnapshotPolicy.every must be None or an int >= 1, not {self.every!r}"
            )
        if self.state_schema_version < 1:
            raise ValueError("SnapshotPolicy.state_schema_version must be >= 1")

    def due(self, previous_version: int, new_version: int) -> bool:
        """Whether crossing from `previous_version` to `new_version` calls for a snapshot."""
        if self.every is None:
            return False
        return new_version // self.every > previous_version // self.every


@dataclass(frozen=True, kw_only=True, slots=True)
class Decider(Generic[C, S, E]):
    """A decider: `initial_state`, `decide`, `evolve`, plus what storage needs to know.

    `events` lists the event classes the decider emits and folds (its codec
    registers them). `state_type` is needed only to snapshot the state: a msgspec
    struct, dataclass or any type msgspec can encode and decode.

    `evolve_recorded(state, event, record)`, if given, is what a command
    handler folds stored events with instead of `evolve`: `record` is the
    RecordedEvent (its `recorded_at`, `metadata`, `version`...). Folds that do
    not need it leave it None and pay nothing. `evolve` stays the fold of
    events without a record (`fold`, `histoire.testing.given`): usually
    `evolve_recorded` calls it and adds what it reads from the record.
    """

    name: str
    initial_state: Callable[[], S]
    decide: Callable[[C, S], Sequence[E]]
    evolve: Callable[[S, E], S]
    events: Sequence[type[E]] = ()
    state_type: type[S] | None = None
    snapshots: SnapshotPolicy = SnapshotPolicy()
    evolve_recorded: Callable[[S, E, RecordedEvent], S] | None = None

    def __post_init__(self) -> None:
        if self.snapshots.every is not None and self.state_type is None:
            raise ValueError(f"decider {self.name!r}: snapshots need a state_type to encode")

    def fold(self, events: Iterable[E], state: S | None = None) -> S:
        """The state after `events`, from `state` or from the initial state."""
        evolve = self.evolve
        current = self.initial_state() if state is None else state
        for event in events:
            current = evolve(current, event)
        return current

    def decide_events(self, command: C, state: S) -> tuple[E, ...]:
        """What `decide` returns, as a tuple of events; InvalidDecisionError if it is not that.

        `decide` may return one event or a sequence of them (a list, a tuple).
        """
        result: object = self.decide(command, state)
        if isinstance(result, Event):
            return (result,)  # type: ignore[return-value]
        # list and tuple first: the ABC checks below cost more than the rest of this.
        if not isinstance(result, list | tuple) and (
            isinstance(result, str | bytes | Mapping) or not isinstance(result, Iterable)
        ):
            raise InvalidDecisionError(self.name, result)
        events = tuple(result)
        for index, event in enumerate(events):
            if not isinstance(event, Event):
                raise InvalidDecisionError(
                    self.name,
                    result,
                    f"item {index} is {event!r} ({type(event).__qualname__}), not an Event",
                )
        return events
