"""The W6 table view: balances per account, in its own SQLite file, with a checkpoint.

Each batch read from the log is applied in ONE transaction: the balance rows and
the checkpoint commit together (exactly once across crashes). histoire and the
raw limit use this class; the eventsourcing peer uses the same SQL through its
own TrackingRecorder (see systems_eventsourcing.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import sqlite_connect

CREATE_BALANCES = (
    "CREATE TABLE IF NOT EXISTS balances ("
    "account TEXT PRIMARY KEY, balance_cents INTEGER NOT NULL) WITHOUT ROWID"
)
UPSERT_BALANCE = (
    "INSERT INTO balances (account, balance_cents) VALUES (?, ?) "
    "ON CONFLICT (account) DO UPDATE SET balance_cents = balance_cents + excluded.balance_cents"
)


class SQLiteBalanceView:
    """Balances and checkpoint in one SQLite file (WAL + synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite_connect(path)
        self.conn.execute(CREATE_BALANCES)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS checkpoint ("
            "name TEXT PRIMARY KEY, tx INTEGER NOT NULL, position INTEGER NOT NULL)"
        )

    def checkpoint(self) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT tx, position FROM checkpoint WHERE name = 'balances'"
        ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def apply(self, changes: Sequence[tuple[str, int]], checkpoint: tuple[int, int]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(UPSERT_BALANCE, changes)
            conn.execute(
                "INSERT INTO checkpoint (name, tx, position) VALUES ('balances', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position",
                checkpoint,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM balances").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
