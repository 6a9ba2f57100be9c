"""The raw limit of W10: a projection written by hand with sqlite3 / psycopg, nothing on top.

The log is the raw limit's events table (histoire's columns and indexes),
filled with UUIDv7-like event ids as histoire's are. The catch-up is the best
the driver can do with the same guarantees: per batch of 1,000, one SELECT of
the four columns it needs (position, stream, type, data; on PostgreSQL in
binary, through one cursor), one JSON decode per
payload (msgspec), then ONE transaction with an `executemany` of the UPSERTs
(one per event) and the checkpoint's UPSERT; same durability (SQLite WAL +
synchronous=FULL, PostgreSQL synchronous_commit on). Reading its checkpoint
first makes it resumable, like the others.
"""

from __future__ import annotations

from typing import Any

import msgspec

from benchmarks.catchup import (
    BATCH,
    CatchUp,
    check_view,
    create_balances,
    expected_total,
    upsert_balance,
)
from benchmarks.common import AMOUNT_CENTS, now_us
from benchmarks.probes import Probe
from histoire.codec.ids import new_event_id as uuid7  # UUIDv7: the same index order as histoire

decode = msgspec.json.decode

DEPOSITED = "bank.Deposited"
CHECKPOINTS = (
    "CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class RawCatchUp:
    """Mixed into RawSQLite / RawPostgres (which give the log's tables and connections)."""

    _MARK = "?"
    _SELECT_LOG: str
    _INSERT: str

    def _w10_log(self) -> Any:
        """A connection to a new, long-lived database with the raw events table."""
        raise NotImplementedError

    def _w10_write(self, conn: Any, statements: list[tuple[str, Any, bool]]) -> None:
        """One transaction: each (sql, params, many) in order, then commit."""
        raise NotImplementedError

    def _w10_reader(self, conn: Any) -> Any:
        """What the catch-up reads the log through (the driver's fastest way)."""
        return conn

    def w10_prepare(self, streams: int, per_stream: int) -> None:
        from benchmarks.systems_raw import _history, new_account_id

        self.w10_conn = conn = self._w10_log()
        self.w10_streams, self.w10_events, self.w10_rounds = streams, streams * per_stream, 0
        streams_row = (
            f"INSERT INTO streams (stream_id, version) VALUES ({self._MARK}, {self._MARK})"
        )
        for _ in range(streams):
            stream_id, now = new_account_id(), now_us()
            rows = [
                (self._id(), stream_id, i + 1, kind, data, b"{}", None, None, now)
                for i, (kind, data) in enumerate(_history(per_stream))
            ]
            self._w10_write(
                conn,
                [
                    (self._INSERT, rows, True),
                    (streams_row, (stream_id, per_stream), False),
                ],
            )
        self._w10_write(conn, [(CHECKPOINTS, (), False)])

    def _id(self) -> Any:
        return uuid7().bytes

    def w10_catch_up(self, mode: str, budget: int | None) -> CatchUp:
        del mode  # the limit is batched whatever the mode
        conn, streams, events = self.w10_conn, self.w10_streams, self.w10_events
        self.w10_rounds += 1
        name = table = f"balances_{self.w10_rounds}"
        self._w10_write(conn, [(create_balances(table), (), False)])
        m = self._MARK
        upsert = upsert_balance(table, m)
        save = (
            f"INSERT INTO checkpoints (name, position) VALUES ({m}, {m}) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )
        select, load = self._SELECT_LOG, f"SELECT position FROM checkpoints WHERE name = {m}"
        target = min(budget or events, events)

        def run(probe: Probe) -> int:
            probe.start()
            reader = self._w10_reader(conn)
            found = reader.execute(load, (name,)).fetchall()
            position = found[0][0] if found else 0
            count = 0
            while count < target:
                rows = reader.execute(select, (position, BATCH)).fetchall()
                if not rows:
                    break
                changes = []
                for _, stream_id, kind, data in rows:
                    payload = decode(data)
                    changes.append((stream_id, payload["amount_cents"] if kind == DEPOSITED else 0))
                position = rows[-1][0]
                self._w10_write(conn, [(upsert, changes, True), (save, (name, position), False)])
                count += len(rows)
            probe.stop()
            ((n, total),) = conn.execute(
                f"SELECT count(*), coalesce(sum(balance_cents), 0) FROM {table}"
            ).fetchall()
            self._w10_write(conn, [])  # no transaction left open (PostgreSQL: it would
            # hold back the horizon under which histoire's followers see new events)
            if target == events:
                check_view(n, total, streams, expected_total(events, streams, AMOUNT_CENTS))
            return count

        return run


class RawSQLiteCatchUp(RawCatchUp):
    _database: Any

    def _w10_log(self) -> Any:
        return self._database("w10log", long=True)[1]

    def _w10_write(self, conn: Any, statements: list[tuple[str, Any, bool]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params, many in statements:
                (conn.executemany if many else conn.execute)(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class RawPostgresCatchUp(RawCatchUp):
    _MARK = "%s"
    _schema: Any
    _connect: Any

    def _w10_log(self) -> Any:
        return self._connect(self._schema("w10log", long=True), long=True)

    def _id(self) -> Any:
        return uuid7()

    def _w10_reader(self, conn: Any) -> Any:
        # One binary cursor for the whole catch-up: bytea comes as its bytes (text
        # sends it hex-encoded), and the loaders are looked up once, as W6's raw read.
        return conn.cursor(binary=True)

    def _w10_write(self, conn: Any, statements: list[tuple[str, Any, bool]]) -> None:
        try:
            with conn.cursor() as cursor:
                for sql, params, many in statements:
                    (cursor.executemany if many else cursor.execute)(sql, params)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
