"""Process managers (sagas): deciders over their own stream that react to events with commands.

A process manager is an ordinary decider, with its own streams (`transfer-7`),
whose commands are both the commands that start a process (`StartTransfer`)
and the events it waits for (`Withdrawn`, `WithdrawalRefused`, ...). Its
state is folded by the same `evolve`; what it decides is stored in its stream,
so that every step of the process is an event: auditable, replayable.

`process_manager()` turns it into a reaction that does the two moves:

- each event of the process's own stream is mapped by `sends(event)` to the
  commands to send (`Send(decider, stream_id, command)`); they go out with the
  process's stream id in their metadata (`process`), and the events they
  cause carry it too;
- `sends` may also yield `Schedule(key, after)` and `Cancel(key)`: when a
  deadline comes, `DeadlineReached` is handed to the process's decider;
- each event of the types in `listens_to` that carries the process's name in
  `reaction` and a stream in `process` is handed back to the process's
  decider, as a command on that stream. A command the target refuses as
  malformed (InvalidCommandError) comes back as `CommandRejected`.

Every command's id derives from the event that caused it, so that a
redelivery stores nothing twice: exactly once in effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from histoire.app.reactions.context import ReactionContext
from histoire.app.reactions.deadlines import DeadlineReached
from histoire.app.reactions.definition import Reaction
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError, InvalidInputError
from histoire.core.messages import Command, Event


class Send(NamedTuple):
    """A command a process manager sends: to which decider, on which stream."""

    decider: str
    stream_id: str
    command: Any


class Schedule(NamedTuple):
    """A deadline a process manager sets: `DeadlineReached` comes back to it `after` seconds."""

    key: str
    after: float
    payload: Mapping[str, Any] = {}


class Cancel(NamedTuple):
    """A deadline of this process that must no longer come."""

    key: str


class CommandRejected(Command):
    """Given to a process manager's decider when a command it sent was malformed."""

    type_name: ClassVar[str] = "histoire.CommandRejected"
    decider: str
    stream_id: str
    command: str
    reason: str


def process_manager(
    decider: Decider[Any, Any, Any],
    *,
    sends: Callable[[Any], Iterable[Send | Schedule | Cancel]],
    listens_to: Sequence[type[Event]],
    max_attempts: int = 5,
    base_delay: float = 1.0,
) -> Reaction:
    """The reaction that runs `decider` as a process manager (named after the decider)."""
    name = decider.name
    own = tuple(decider.events)
    if not own:
        raise InvalidInputError(f"process manager {name!r}: its decider lists no events")
    overlap = set(own) & set(listens_to)
    if overlap:
        raise InvalidInputError(
            f"process manager {name!r}: {sorted(t.type_name for t in overlap)} are its own events; "
            "listens_to names the events of others that it waits for"
        )
    reaction = Reaction(name, max_attempts=max_attempts, base_delay=base_delay)

    @reaction.on(*own)
    def send(event: Any, ctx: ReactionContext) -> None:
        process = ctx.record.stream_id
        for out in sends(event):
            if isinstance(out, Schedule):
                ctx.schedule(
                    f"{process}/{out.key}", after=out.after, payload=out.payload, process=process
                )
                continue
            if isinstance(out, Cancel):
                ctx.cancel(f"{process}/{out.key}")
                continue
            try:
                ctx.issue(out.decider, out.stream_id, out.command, metadata={"process": process})
            except InvalidCommandError as exc:
                rejected = CommandRejected(
                    decider=out.decider,
                    stream_id=out.stream_id,
                    command=type(out.command).__name__,
                    reason=str(exc),
                )
                ctx.issue(name, process, rejected)

    @reaction.on(DeadlineReached)
    def remind(event: DeadlineReached, ctx: ReactionContext) -> None:
        if event.owner == name and event.process is not None:
            ctx.issue(name, event.process, event)

    @reaction.on(*listens_to)
    def receive(event: Any, ctx: ReactionContext) -> None:
        metadata = ctx.record.metadata
        process = metadata.get("process")
        if metadata.get("reaction") != name or not isinstance(process, str):
            return  # not caused by this process manager
        ctx.issue(name, process, event)

    return reaction
