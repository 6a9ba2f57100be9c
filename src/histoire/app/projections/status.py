"""How far projections are: checkpoint, lag, state, last error; and waiting for one."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from histoire.app.lag import follower_state, lag
from histoire.app.projections import generations
from histoire.core.errors import HandlerError, InvalidInputError
from histoire.core.recorded import START, Checkpoint
from histoire.store import progress
from histoire.store.protocol import EventStore
from histoire.store.transactions import TransactionalStore


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One consumer-group member of one generation of a projection."""

    projection: str
    generation: int
    version: int
    serving: bool
    """Whether this generation serves reads (else it is being built)."""
    member: int
    members: int
    checkpoint: Checkpoint
    head: Checkpoint
    handled: int
    lag_events: int
    """How many events of the log lie past the checkpoint (by positions)."""
    lag_seconds: float
    """How old the oldest event past the checkpoint is (0 when caught up)."""
    state: str
    """`running`, `stopped`, `failing` or `caught up`."""
    updated_at: dt.datetime | None
    failed_event_id: str | None = None
    error: str | None = None
    traceback: str | None = None


def projection_status(store: EventStore, name: str | None = None) -> list[ProjectionStatus]:
    """The status of every projection that ran on `store` (or of `name` only)."""
    if not isinstance(store, TransactionalStore):
        raise InvalidInputError(f"{store.url}: this store holds no projections")
    head = store.head()
    with store.transaction(read_only=True) as tx:
        if not progress.tables_exist(tx):
            return []  # nothing ever ran here
        states = progress.read_models(tx)
        records = progress.load_all(tx, "projection:")
    now = dt.datetime.now(dt.UTC)
    result: list[ProjectionStatus] = []
    for state in states:
        if name is not None and state.name != name:
            continue
        generations_of = [(state.generation, state.version, True)]
        if state.building_generation is not None and state.building_version is not None:
            generations_of.append((state.building_generation, state.building_version, False))
        for generation, version, serving in generations_of:
            follower = generations.follower_name(state.name, generation)
            members = [r for r in records if r.key.name == follower]
            if not members:
                members = [None]  # type: ignore[list-item]
            for record in members:
                checkpoint = record.checkpoint if record else START
                behind = lag(store, checkpoint, head, now)
                status = follower_state(record, checkpoint, head, now)
                result.append(
                    ProjectionStatus(
                        projection=state.name,
                        generation=generation,
                        version=version,
                        serving=serving,
                        member=record.key.member if record else 0,
                        members=record.key.members if record else 1,
                        checkpoint=checkpoint,
                        head=head,
                        handled=record.handled if record else 0,
                        lag_events=behind.events,
                        lag_seconds=behind.seconds,
                        state=status,
                        updated_at=record.updated_at if record else None,
                        failed_event_id=record.failed_event_id if record else None,
                        error=record.error if record else None,
                        traceback=record.traceback if record else None,
                    )
                )
    return result


def wait_for_projection(
    store: EventStore, name: str, checkpoint: Checkpoint, timeout: float = 10.0
) -> bool:
    """Wait until every member of `name`'s serving generation has passed `checkpoint`.

    For read-your-own-writes: append, then wait for the view to include the
    append's last event (`result.events[-1].checkpoint`). True once reached,
    False after `timeout` seconds; HandlerError at once if the projection is
    stopped on a failing event before that checkpoint (it would never get there).
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        if reached(store, name, checkpoint):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)


def reached(store: EventStore, name: str, checkpoint: Checkpoint) -> bool:
    """Whether every member of `name`'s serving generation has passed `checkpoint`."""
    serving = [s for s in projection_status(store, name) if s.serving]
    for status in serving:
        if status.failed_event_id is not None and status.checkpoint < checkpoint:
            failed = store.get_event(uuid.UUID(status.failed_event_id))
            raise HandlerError(
                f"projection {name!r}",
                status.failed_event_id,
                failed.stream_id if failed else "?",
                failed.version if failed else 0,
                status.error or "",
            )
    return bool(serving) and all(s.checkpoint >= checkpoint for s in serving)
