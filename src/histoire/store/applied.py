"""Which events a follower fed from a broker has applied: each stream's last version.

A broker may hand out an event again (a relay that published twice, a
consumer that died before it acknowledged). A follower fed from a broker
records, per stream, the last version it applied, in the same transaction
as its read model: an event at or below it is a duplicate and is dropped.
That makes "exactly once" into a database read model a property of the
schema; elsewhere (handlers with side effects) it is at least once, the
versions being recorded after the handlers succeeded.

It relies on each stream's events reaching the follower in version order,
which the relay and the brokers keep.
"""

from __future__ import annotations

from collections.abc import Sequence

from histoire.core.recorded import RecordedEvent
from histoire.store.transactions import Transaction

APPLIED = "histoire_handled"

_CHUNK = 500


def _sql(tx: Transaction, text: str) -> str:
    text = text.format(applied=tx.table(APPLIED))
    return text.replace("?", "%s") if tx.dialect == "postgresql" else text


def ensure_table(tx: Transaction) -> None:
    """Create the table if it is missing."""
    tx.execute(
        _sql(
            tx,
            "CREATE TABLE IF NOT EXISTS {applied} (name TEXT NOT NULL, stream_id TEXT NOT NULL,"
            " version BIGINT NOT NULL, PRIMARY KEY (name, stream_id))",
        )
    )


def unapplied(tx: Transaction, name: str, events: Sequence[RecordedEvent]) -> list[RecordedEvent]:
    """`events` less those follower `name` applied already (or that come twice in `events`)."""
    if not events:
        return []
    streams = sorted({e.stream_id for e in events})
    last: dict[str, int] = {}
    for start in range(0, len(streams), _CHUNK):
        chunk = streams[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = tx.execute(
            _sql(
                tx,
                "SELECT stream_id, version FROM {applied}"
                f" WHERE name = ? AND stream_id IN ({marks})",
            ),
            (name, *chunk),
        )
        last.update({stream: version for stream, version in rows})
    fresh = []
    for event in events:
        if event.version > last.get(event.stream_id, 0):
            fresh.append(event)
            last[event.stream_id] = event.version
    return fresh


def mark(tx: Transaction, name: str, events: Sequence[RecordedEvent]) -> None:
    """Record that follower `name` applied `events` (each stream's highest version wins)."""
    highest: dict[str, int] = {}
    for event in events:
        highest[event.stream_id] = max(event.version, highest.get(event.stream_id, 0))
    if not highest:
        return
    tx.executemany(
        _sql(
            tx,
            "INSERT INTO {applied} (name, stream_id, version) VALUES (?, ?, ?)"
            " ON CONFLICT (name, stream_id) DO UPDATE SET version = CASE"
            " WHEN excluded.version > {applied}.version THEN excluded.version"
            " ELSE {applied}.version END",
        ),
        [(name, stream, version) for stream, version in sorted(highest.items())],
    )


def reset(tx: Transaction, name: str) -> None:
    """Forget what follower `name` applied (its read model is dropped)."""
    if APPLIED in tx.table_names(APPLIED):
        tx.execute(_sql(tx, "DELETE FROM {applied} WHERE name = ?"), (name,))
