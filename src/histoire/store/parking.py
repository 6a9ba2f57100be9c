"""Events a reaction could not handle yet: retrying, parked, and the ones waiting behind them.

When a reaction fails on an event, the event gets a row here (`retrying`,
with the time of its next attempt), and so does every later event of the same
stream (`waiting`), so that the stream's order is kept while the follower's
checkpoint, and the other streams, go on. After the last attempt the row
becomes `parked`: it waits for `histoire reactions retry` (back to
`retrying`) or `skip` (`skipped`: the runner drops it and goes on with the
stream). Rows are written in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NamedTuple

from histoire.core.recorded import Checkpoint
from histoire.store.transactions import Transaction

PARKED = "histoire_parked"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

State = Literal["retrying", "parked", "waiting", "skipped"]


class Entry(NamedTuple):
    """One event a reaction has not handled yet, and why."""

    name: str
    stream_id: str
    event_id: str
    checkpoint: Checkpoint
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    error: str | None
    traceback: str | None
    parked_at: dt.datetime


def _to_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // _US


def _from_us(value: int | None) -> dt.datetime | None:
    return None if value is None else _EPOCH + dt.timedelta(microseconds=value)


def _sql(tx: Transaction, text: str) -> str:
    text = text.format(parked=tx.table(PARKED))
    return text.replace("?", "%s") if tx.dialect == "postgresql" else text


_COLUMNS = (
    "name, stream_id, event_id, commit_id, position, state, attempts, next_attempt_at, "
    "error, traceback, parked_at"
)


def _entry(row: tuple[Any, ...]) -> Entry:
    name, stream, event, commit, position, state, attempts, next_at, error, trace, at = row
    parked_at = _from_us(at)
    assert parked_at is not None
    return Entry(
        name,
        stream,
        event,
        Checkpoint(commit, position),
        state,
        attempts,
        _from_us(next_at),
        error,
        trace,
        parked_at,
    )


def ensure_table(tx: Transaction) -> None:
    """Create the table if it is missing."""
    tx.execute(
        _sql(
            tx,
            "CREATE TABLE IF NOT EXISTS {parked} ("
            " name TEXT NOT NULL, stream_id TEXT NOT NULL, event_id TEXT NOT NULL,"
            " commit_id BIGINT NOT NULL, position BIGINT NOT NULL, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL, next_attempt_at BIGINT, error TEXT, traceback TEXT,"
            " parked_at BIGINT NOT NULL, PRIMARY KEY (name, event_id))",
        )
    )


def add(
    tx: Transaction,
    name: str,
    stream_id: str,
    event_id: str,
    checkpoint: Checkpoint,
    state: State,
    *,
    attempts: int = 0,
    next_attempt_at: dt.datetime | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    """Record an event of `stream_id` that reaction `name` has not handled yet."""
    tx.execute(
        _sql(
            tx,
            f"INSERT INTO {{parked}} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name, event_id) DO NOTHING",
        ),
        (
            name,
            stream_id,
            event_id,
            checkpoint[0],
            checkpoint[1],
            state,
            attempts,
            None if next_attempt_at is None else _to_us(next_attempt_at),
            error,
            traceback,
            _to_us(dt.datetime.now(dt.UTC)),
        ),
    )


def update(
    tx: Transaction,
    name: str,
    event_id: str,
    state: State,
    *,
    attempts: int,
    next_attempt_at: dt.datetime | None,
    error: str | None,
    traceback: str | None,
) -> None:
    """Change the state of one entry (a failed attempt, parked, retried)."""
    tx.execute(
        _sql(
            tx,
            "UPDATE {parked} SET state = ?, attempts = ?, next_attempt_at = ?, error = ?,"
            " traceback = ? WHERE name = ? AND event_id = ?",
        ),
        (
            state,
            attempts,
            None if next_attempt_at is None else _to_us(next_attempt_at),
            error,
            traceback,
            name,
            event_id,
        ),
    )


def remove(tx: Transaction, name: str, event_id: str) -> None:
    """Forget an entry: its event was handled, or skipped."""
    tx.execute(_sql(tx, "DELETE FROM {parked} WHERE name = ? AND event_id = ?"), (name, event_id))


def entries(tx: Transaction, name: str | None = None) -> list[Entry]:
    """Every entry (of reaction `name`), in log order."""
    where = " WHERE name = ?" if name is not None else ""
    rows = tx.execute(
        _sql(tx, f"SELECT {_COLUMNS} FROM {{parked}}{where} ORDER BY name, commit_id, position"),
        (name,) if name is not None else (),
    )
    return [_entry(r) for r in rows]


def request_retry(tx: Transaction, event_id: str | None, name: str | None = None) -> int:
    """Send parked entries (one, or all of them) back to `retrying`, due now; how many."""
    where = ["state = 'parked'"]
    params: list[Any] = []
    if event_id is not None:
        where.append("event_id = ?")
        params.append(event_id)
    if name is not None:
        where.append("name = ?")
        params.append(name)
    clause = " AND ".join(where)
    found = tx.execute(_sql(tx, f"SELECT count(*) FROM {{parked}} WHERE {clause}"), params)
    tx.execute(
        _sql(
            tx,
            "UPDATE {parked} SET state = 'retrying', attempts = 0, next_attempt_at = ?"
            f" WHERE {clause}",
        ),
        [_to_us(dt.datetime.now(dt.UTC)), *params],
    )
    return int(found[0][0])


def mark_skipped(tx: Transaction, event_id: str) -> list[str]:
    """Mark the entries of `event_id` skipped (the runners drop them); the reactions' names."""
    rows = tx.execute(
        _sql(
            tx, "SELECT name FROM {parked} WHERE event_id = ? AND state IN ('parked', 'retrying')"
        ),
        (event_id,),
    )
    tx.execute(
        _sql(
            tx,
            "UPDATE {parked} SET state = 'skipped' WHERE event_id = ?"
            " AND state IN ('parked', 'retrying')",
        ),
        (event_id,),
    )
    return [r[0] for r in rows]
