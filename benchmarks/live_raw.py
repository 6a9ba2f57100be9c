"""W11's floor on PostgreSQL: the bare path, by hand with psycopg, in the same run.

histoire's appender process appends to a histoire schema (the same events,
the same NOTIFY); the follower is a thread of plain psycopg: LISTEN on the
schema's channel; on each notification, one SELECT of the rows after its
(xid, position) checkpoint by the category index; then one transaction with
synchronous_commit off: the balances UPSERT per event and the checkpoint row,
COMMIT. Nothing else: no horizon (it reads whatever has committed, so under
concurrent writers it could skip an event: a floor, not a design), no
generation check, no decoding beyond the metadata's send time. The latency is
taken as histoire's, after the COMMIT.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msgspec

from benchmarks.catchup import create_balances, upsert_balance
from benchmarks.common import AMOUNT_CENTS
from benchmarks.live import Collector, FollowThread
from benchmarks.projections_histoire import histoire_appender
from histoire import open_store
from histoire.store.postgres.schema import parse_url

LISTEN_TIMEOUT = 0.25
"""How often the follower looks whether it was told to stop."""


class RawPostgresLive(FollowThread):
    """A LiveSide: histoire's appender, followed by LISTEN + SELECT + one transaction."""

    def __init__(self, url: str, schema: str) -> None:
        super().__init__()
        open_store(url, schema=schema).close()  # histoire's tables, for the appender
        self.url, self.schema = url, schema
        self.appender = (histoire_appender, (url, schema))

    def start(self, collector: Collector) -> None:
        import psycopg

        s = f'"{self.schema}"'
        listen = psycopg.connect(self.url, autocommit=True)
        conn = psycopg.connect(self.url, autocommit=True)
        listen.execute(f'LISTEN "{parse_url(self.url, self.schema).channel}"')
        conn.execute(create_balances(f"{s}.raw_balances"))
        conn.execute(
            f"CREATE TABLE {s}.raw_checkpoint (name text PRIMARY KEY, xid bigint, position bigint)"
        )
        select = (
            f"SELECT xid, position, stream_id, version, metadata FROM {s}.events "
            "WHERE category = 'account' AND (xid, position) > (%s, %s) ORDER BY xid, position"
        )
        upsert = upsert_balance(f"{s}.raw_balances", "%s")
        save = (
            f"INSERT INTO {s}.raw_checkpoint VALUES ('balances', %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, position = excluded.position"
        )
        decode = msgspec.json.decode

        def follow(stop: threading.Event) -> None:
            last = (0, 0)
            try:
                while not stop.is_set():
                    rows = conn.execute(select, last).fetchall()
                    if rows:
                        conn.execute("BEGIN; SET LOCAL synchronous_commit = off")
                        with conn.cursor() as cursor:
                            cursor.executemany(upsert, [(r[2], AMOUNT_CENTS) for r in rows])
                        last = (rows[-1][0], rows[-1][1])
                        conn.execute(save, last)
                        conn.execute("COMMIT")
                        now = time.time_ns()
                        for row in rows:
                            metadata: Any = row[4]
                            if isinstance(metadata, str | bytes):
                                metadata = decode(metadata)
                            collector.add(row[3], metadata.get("sent_ns"), now)
                    for _ in listen.notifies(timeout=LISTEN_TIMEOUT, stop_after=1):
                        pass
            finally:
                listen.close()
                conn.close()

        self._start_thread("bench-raw-follower", follow)
