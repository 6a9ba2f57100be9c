"""Generations of a read model: which one serves reads, which one is being built.

A projection's tables are named per generation (`balances__g2__accounts`). The
first run builds generation 1 and serves it at once. When the projection's
`version` changes, or on `rebuild`, the next generation is built from the
start of the log beside the serving one; once it has caught up with the head
it is swapped in, in one transaction, and the old generation's tables are
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from histoire.app.projections.context import ProjectionContext, table_name
from histoire.app.projections.definition import Projection
from histoire.store import applied, progress
from histoire.store.progress import ReadModelState
from histoire.store.transactions import Transaction


def follower_name(projection: str, generation: int) -> str:
    """The name a generation of a projection records its progress under."""
    return f"projection:{projection}:g{generation}"


@dataclass(frozen=True, slots=True)
class Plan:
    """Which generation a runner writes, and whether it is building it beside another."""

    generation: int
    building: bool


def plan(tx: Transaction, projection: Projection, *, rebuild: bool = False) -> Plan:
    """Decide which generation to write, creating its tables if it is new."""
    progress.ensure_tables(tx)
    state = progress.read_model(tx, projection.name)
    if state is None:
        progress.save_read_model(
            tx, ReadModelState(projection.name, 1, projection.version, None, None)
        )
        _create(tx, projection, 1)
        return Plan(1, building=False)
    if state.version == projection.version and not rebuild:
        return Plan(state.generation, building=False)
    if state.building_generation is not None and state.building_version == projection.version:
        return Plan(state.building_generation, building=True)  # resume a build
    generation = max(state.generation, state.building_generation or 0) + 1
    if state.building_generation is not None:
        _drop(tx, projection.name, state.building_generation)
    progress.save_read_model(
        tx, state._replace(building_generation=generation, building_version=projection.version)
    )
    _create(tx, projection, generation)
    return Plan(generation, building=True)


def still_current(tx: Transaction, projection: str, current: Plan) -> bool:
    """Whether `current` is still what a runner should write (no swap or new build since)."""
    state = progress.read_model(tx, projection)
    if state is None:
        return False
    if current.building:
        return state.building_generation == current.generation
    return state.generation == current.generation


def swap(tx: Transaction, projection: str, built: int) -> None:
    """Serve generation `built` from now on; drop the generation it replaces.

    Waits for the reads of the old generation that began before it (`serving`).
    """
    tx.hold(_readers_lock(projection), exclusive=True)
    state = progress.read_model(tx, projection)
    assert state is not None and state.building_generation == built
    assert state.building_version is not None
    progress.save_read_model(
        tx, ReadModelState(projection, built, state.building_version, None, None)
    )
    _drop(tx, projection, state.generation)


def serving(tx: Transaction, projection: str) -> int | None:
    """The generation that serves reads of `projection`, or None if it was never built.

    Its tables stay in place until `tx` ends: a swap waits for it.
    """
    if not progress.tables_exist(tx):
        return None
    tx.hold(_readers_lock(projection), exclusive=False)
    state = progress.read_model(tx, projection)
    return None if state is None else state.generation


def _readers_lock(projection: str) -> str:
    return f"read-model:{projection}"


def _create(tx: Transaction, projection: Projection, generation: int) -> None:
    _drop(tx, projection.name, generation)  # leftovers of a build that never finished
    context = ProjectionContext(tx, projection.name, generation)
    for setup in projection.setups:
        setup(context)


def _drop(tx: Transaction, projection: str, generation: int) -> None:
    for table in tx.table_names(table_name(projection, generation, "")):
        tx.execute(f"DROP TABLE {tx.table(table)}")
    progress.reset(tx, follower_name(projection, generation))
    applied.reset(tx, follower_name(projection, generation))
