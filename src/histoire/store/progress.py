"""Where followers record their progress: checkpoints, failures and skipped events.

One row per follower member, keyed by (name, member, members): with consumer
groups each member has its own checkpoint. Rows are written in the caller's
transaction, so that a projection's read-model rows and its checkpoint commit
together. The tables are created on first use (`ensure_tables`), in the
store's namespace (its schema on PostgreSQL).

The SQL is the same in both dialects but for placeholders and a few types.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from histoire.core.recorded import START, Checkpoint
from histoire.store.transactions import Transaction

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

FOLLOWERS = "histoire_followers"
SKIPS = "histoire_skips"
READ_MODELS = "histoire_read_models"


class FollowerKey(NamedTuple):
    """Whose progress: a follower's name and its place in its consumer group."""

    name: str
    member: int = 0
    members: int = 1


class Progress(NamedTuple):
    """A follower member's recorded progress."""

    key: FollowerKey
    checkpoint: Checkpoint
    handled: int
    updated_at: dt.datetime
    failed_event_id: str | None
    error: str | None
    traceback: str | None
    stopped_at: dt.datetime | None = None
    """When its runner last ended cleanly; None while one runs (or after one was killed)."""


def _sql(tx: Transaction, text: str) -> str:
    text = text.format(
        followers=tx.table(FOLLOWERS), skips=tx.table(SKIPS), read_models=tx.table(READ_MODELS)
    )
    return text.replace("?", "%s") if tx.dialect == "postgresql" else text


def _now_us() -> int:
    return (dt.datetime.now(dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)


def ensure_tables(tx: Transaction) -> None:
    """Create the progress tables if they are missing."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS {followers} ("
        " name TEXT NOT NULL, member INTEGER NOT NULL, members INTEGER NOT NULL,"
        " commit_id BIGINT NOT NULL, position BIGINT NOT NULL, handled BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL, failed_event_id TEXT, error TEXT, traceback TEXT,"
        " stopped_at BIGINT, PRIMARY KEY (name, member, members))",
        "CREATE TABLE IF NOT EXISTS {skips} ("
        " name TEXT NOT NULL, event_id TEXT NOT NULL, skipped_by TEXT NOT NULL,"
        " reason TEXT NOT NULL, skipped_at BIGINT NOT NULL, PRIMARY KEY (name, event_id))",
        "CREATE TABLE IF NOT EXISTS {read_models} ("
        " name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER NOT NULL,"
        " building_generation INTEGER, building_version INTEGER)",
    ):
        tx.execute(_sql(tx, statement))
    if tx.dialect == "sqlite" and not _has_stopped_at(tx):
        # Made before histoire recorded stops (PostgreSQL: migration 9 adds it).
        tx.execute(_sql(tx, "ALTER TABLE {followers} ADD COLUMN stopped_at BIGINT"))


def _has_stopped_at(tx: Transaction) -> bool:
    rows = tx.execute(f"SELECT name FROM pragma_table_info('{FOLLOWERS}')")
    return any(row[0] == "stopped_at" for row in rows)


def tables_exist(tx: Transaction) -> bool:
    """Whether the progress tables exist (nothing ever followed the log if not)."""
    return READ_MODELS in tx.table_names(READ_MODELS)


def _progress(row: tuple[Any, ...]) -> Progress:
    name, member, members, commit, position, handled, updated, failed, error, trace, stop = row
    return Progress(
        FollowerKey(name, member, members),
        Checkpoint(commit, position),
        handled,
        _time(updated),
        failed,
        error,
        trace,
        None if stop is None else _time(stop),
    )


def _time(microseconds: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=microseconds)


_COLUMNS = (
    "name, member, members, commit_id, position, handled, updated_at, "
    "failed_event_id, error, traceback, stopped_at"
)


def _columns(tx: Transaction) -> str:
    """`_COLUMNS`, or NULL for stopped_at in a SQLite file whose table predates it."""
    if tx.dialect == "sqlite" and not _has_stopped_at(tx):
        return _COLUMNS.replace("stopped_at", "NULL")
    return _COLUMNS


def load(tx: Transaction, key: FollowerKey) -> Progress | None:
    """The recorded progress of `key`, or None if it never ran."""
    rows = tx.execute(
        _sql(
            tx,
            f"SELECT {_columns(tx)} FROM {{followers}}"
            " WHERE name = ? AND member = ? AND members = ?",
        ),
        key,
    )
    return _progress(rows[0]) if rows else None


def load_all(tx: Transaction, prefix: str = "") -> list[Progress]:
    """Every follower member's progress whose name starts with `prefix`, by name."""
    rows = tx.execute(
        _sql(tx, f"SELECT {_columns(tx)} FROM {{followers}} ORDER BY name, members, member"),
    )
    return [_progress(r) for r in rows if r[0].startswith(prefix)]


def save(tx: Transaction, key: FollowerKey, checkpoint: Checkpoint, handled: int) -> None:
    """Record that `key` has handled everything up to `checkpoint` (`handled` more events)."""
    tx.execute(
        _sql(
            tx,
            "INSERT INTO {followers} (name, member, members, commit_id, position, handled,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name, member, members) DO UPDATE SET"
            " commit_id = excluded.commit_id, position = excluded.position,"
            " handled = {followers}.handled + excluded.handled,"
            " updated_at = excluded.updated_at, stopped_at = NULL",
        ),
        (*key, checkpoint[0], checkpoint[1], handled, _now_us()),
    )


def stopped(tx: Transaction, key: FollowerKey) -> None:
    """Record that `key`'s runner ended cleanly (status: no longer running)."""
    tx.execute(
        _sql(
            tx,
            "UPDATE {followers} SET stopped_at = ? WHERE name = ? AND member = ? AND members = ?",
        ),
        (_now_us(), *key),
    )


def advance(
    tx: Transaction,
    key: FollowerKey,
    start: Checkpoint,
    checkpoint: Checkpoint,
    handled: int,
    *,
    generation: tuple[str, int, bool] | None = None,
) -> bool:
    """Record that `key` went from `start` to `checkpoint`, if nobody else moved it meanwhile.

    False, writing nothing, when `key`'s recorded checkpoint is no longer
    `start`: another runner of the same member got there first (two workers
    started by mistake, or a restart overlapping the old process), or, given
    `generation` (read model, generation, whether it is being built), when that
    generation is no longer the one to write (swapped, or a build started over).
    The caller then rolls back its batch and goes back to what is recorded: no
    event is applied twice. Sent first in a batch's transaction, it also takes
    the row's lock, so that a second runner of the member waits here, not after
    its writes. In a deferring block on PostgreSQL it goes ahead like a write
    and gives True: a refusal then fails the block (`Transaction.require_change`).
    """
    condition = _CURRENT if generation is not None else "1 = 1"
    sql = _sql(
        tx,
        "INSERT INTO {followers} (name, member, members, commit_id, position, handled,"
        f" updated_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE {condition}"
        " ON CONFLICT (name, member, members) DO UPDATE SET"
        " commit_id = excluded.commit_id, position = excluded.position,"
        " handled = {followers}.handled + excluded.handled,"
        " updated_at = excluded.updated_at, stopped_at = NULL"
        " WHERE {followers}.commit_id = ? AND {followers}.position = ?",
    )
    params: tuple[Any, ...] = (*key, checkpoint[0], checkpoint[1], handled, _now_us())
    if generation is not None:
        name, number, building = generation
        params += (name, building, number)
    return tx.require_change(sql, (*params, start[0], start[1]))


_CURRENT = (
    "EXISTS (SELECT 1 FROM {read_models} WHERE name = ?"
    " AND CASE WHEN ? THEN building_generation ELSE generation END = ?)"
)
"""The read model's generation a runner writes is still the one to write."""


def record_failure(
    tx: Transaction, key: FollowerKey, event_id: str, error: str, traceback: str
) -> None:
    """Record that `key` stopped on `event_id` with `error` (its checkpoint stays)."""
    existing = load(tx, key)
    if existing is None:
        save(tx, key, START, 0)
    tx.execute(
        _sql(
            tx,
            "UPDATE {followers} SET failed_event_id = ?, error = ?, traceback = ?, updated_at = ?"
            " WHERE name = ? AND member = ? AND members = ?",
        ),
        (event_id, error, traceback, _now_us(), *key),
    )


def clear_failure(tx: Transaction, key: FollowerKey) -> None:
    """Forget the failure recorded for `key` (it runs again)."""
    tx.execute(
        _sql(
            tx,
            "UPDATE {followers} SET failed_event_id = NULL, error = NULL, traceback = NULL"
            " WHERE name = ? AND member = ? AND members = ? AND failed_event_id IS NOT NULL",
        ),
        key,
    )


def reset(tx: Transaction, name: str) -> None:
    """Forget every member's progress of follower `name` (a rebuild starts over)."""
    tx.execute(_sql(tx, "DELETE FROM {followers} WHERE name = ?"), (name,))


def add_skip(tx: Transaction, name: str, event_id: str, who: str, reason: str) -> None:
    """Record that follower `name` must skip `event_id`, who asked and why."""
    tx.execute(
        _sql(
            tx,
            "INSERT INTO {skips} (name, event_id, skipped_by, reason, skipped_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, event_id) DO NOTHING",
        ),
        (name, event_id, who, reason, _now_us()),
    )


def skipped(tx: Transaction, name: str) -> set[str]:
    """The ids of the events follower `name` was told to skip."""
    rows = tx.execute(_sql(tx, "SELECT event_id FROM {skips} WHERE name = ?"), (name,))
    return {r[0] for r in rows}


def skips(tx: Transaction) -> list[tuple[str, str, str, str, dt.datetime]]:
    """Every recorded skip: (follower name, event id, who, why, when)."""
    rows = tx.execute(
        _sql(
            tx,
            "SELECT name, event_id, skipped_by, reason, skipped_at FROM {skips}"
            " ORDER BY skipped_at",
        )
    )
    return [(n, e, w, r, _EPOCH + dt.timedelta(microseconds=t)) for n, e, w, r, t in rows]


class ReadModelState(NamedTuple):
    """Which generation of a read model serves reads, and which is being built."""

    name: str
    generation: int
    version: int
    building_generation: int | None
    building_version: int | None


def read_model(tx: Transaction, name: str) -> ReadModelState | None:
    """The recorded generations of read model `name`, or None if it was never built."""
    rows = tx.execute(
        _sql(
            tx,
            "SELECT name, generation, version, building_generation, building_version"
            " FROM {read_models} WHERE name = ?",
        ),
        (name,),
    )
    return ReadModelState(*rows[0]) if rows else None


def read_models(tx: Transaction) -> list[ReadModelState]:
    """Every read model's recorded generations, by name."""
    rows = tx.execute(
        _sql(
            tx,
            "SELECT name, generation, version, building_generation, building_version"
            " FROM {read_models} ORDER BY name",
        )
    )
    return [ReadModelState(*row) for row in rows]


def save_read_model(tx: Transaction, state: ReadModelState) -> None:
    """Record `state` as read model `state.name`'s generations."""
    tx.execute(
        _sql(
            tx,
            "INSERT INTO {read_models} (name, generation, version, building_generation,"
            " building_version) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " generation = excluded.generation, version = excluded.version,"
            " building_generation = excluded.building_generation,"
            " building_version = excluded.building_version",
        ),
        state,
    )
