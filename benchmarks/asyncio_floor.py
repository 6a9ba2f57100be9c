"""The drivers' own floor under W1 of the asyncio benchmark: what no edge can beat.

    python -m benchmarks.asyncio_floor [--rounds 3] [--db sqlite,postgres] [--n 1000]

A W1 command (open an account: a new stream) reads its stream, decides, and
appends durably. Without histoire, on the same machine and settings:

- PostgreSQL: per command, one pooled connection, the stream read (empty) and
  histoire's own `append_event` function (its schema made by histoire), one
  statement each, in binary: with psycopg's asyncio pool and connections, then
  its blocking ones. synchronous_commit on.
- SQLite: one-row durable commits (`BEGIN IMMEDIATE`, an INSERT into a table
  with histoire's unique keys, `COMMIT`; WAL, synchronous=FULL) in a file in a
  temporary folder of the working directory (a real disk: `--dir`).

It prints commands per second and CPU per command (this process); compare them
with `benchmarks.asyncio_edge`'s W1 and with 3x eventsource-py's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV, pg_drop_schemas

Rate = tuple[float, float]
"""(commands per second, CPU microseconds per command)."""


def _timed(n: int, run: Callable[[], None]) -> Rate:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


def postgres(url: str, n: int) -> dict[str, Rate]:
    """The asyncio and blocking psycopg floors of W1 (see the module doc)."""
    import psycopg_pool

    from histoire import open_store
    from histoire.app.handler import CommandHandler
    from histoire.examples import bank

    schema = f"bench_floor_{uuid.uuid4().hex[:12]}"
    store = open_store(url, schema=schema)
    codec = CommandHandler(store, bank.make_decider()).codec
    store.close()
    s = f'"{schema}"'
    read = (
        f"SELECT version, type, schema_version, data FROM {s}.events "
        "WHERE stream_id = %s AND version >= %s ORDER BY version LIMIT %s"
    )
    append = f"SELECT * FROM {s}.append_event(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"

    def commands() -> list[tuple[str, tuple[Any, ...]]]:
        made = []
        for _ in range(n):
            event = codec.encode(bank.AccountOpened(owner="ada", currency="EUR"))
            stream_id = f"account-{uuid.uuid4().hex}"
            made.append(
                (
                    stream_id,
                    (stream_id, "account", 0, event.event_id, event.type,
                     event.schema_version, event.data, "{}", None, None),
                )
            )  # fmt: skip
        return made

    kwargs = {"autocommit": True}

    async def asynchronous() -> Rate:
        async with psycopg_pool.AsyncConnectionPool(
            url, min_size=2, max_size=4, kwargs=kwargs, open=False
        ) as pool:
            await pool.wait()
            work = commands()
            wall, cpu = time.perf_counter(), time.process_time()
            for stream_id, params in work:
                conn = await pool.getconn()
                await (await conn.execute(read, (stream_id, 1, 1000), binary=True)).fetchall()
                await (await conn.execute(append, params, binary=True)).fetchone()
                await pool.putconn(conn)
            return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6

    def blocking() -> Rate:
        with psycopg_pool.ConnectionPool(url, min_size=2, max_size=4, kwargs=kwargs) as pool:
            pool.wait()
            work = commands()

            def run() -> None:
                for stream_id, params in work:
                    conn = pool.getconn()
                    conn.execute(read, (stream_id, 1, 1000), binary=True).fetchall()
                    conn.execute(append, params, binary=True).fetchone()
                    pool.putconn(conn)

            return _timed(n, run)

    try:
        return {"asyncio": asyncio.run(asynchronous()), "blocking": blocking()}
    finally:
        pg_drop_schemas(url, [schema])


def sqlite(folder: str, n: int) -> dict[str, Rate]:
    """One-row durable commits with the raw driver (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix="histoire-floor-", dir=folder) as where:
        conn = sqlite3.connect(os.path.join(where, "floor.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, "
            "stream_id TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL, "
            "UNIQUE (stream_id, version))"
        )
        rows = [
            (uuid.uuid4().bytes, f"account-{uuid.uuid4().hex}", b'{"owner":"ada"}')
            for _ in range(n)
        ]

        def run() -> None:
            for row in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT INTO events (event_id, stream_id, version, data) VALUES (?, ?, 1, ?)",
                    row,
                )
                conn.execute("COMMIT")

        try:
            return {"one-row commits": _timed(n, run)}
        finally:
            conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--n", type=int, default=1000, help="commands per round")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--dir", default=".", help="where SQLite's file goes (a real disk)")
    args = parser.parse_args(argv)
    url = args.postgres_url or os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    for db in args.db.split(","):
        rounds: dict[str, list[Rate]] = {}
        for round_no in range(args.rounds):
            measured = postgres(url, args.n) if db == "postgres" else sqlite(args.dir, args.n)
            for name, (rate, cpu) in measured.items():
                rounds.setdefault(name, []).append((rate, cpu))
                print(f"{db:8} W1 floor round {round_no + 1} {name:16} {rate:>8,.0f}/s  "
                      f"{cpu:>6,.0f} us CPU/command", flush=True)  # fmt: skip
        for name, rates in rounds.items():
            rate = statistics.median(r for r, _ in rates)
            cpu = statistics.median(c for _, c in rates)
            print(f"{db:8} W1 floor, median   {name:16} {rate:>8,.0f}/s  "
                  f"{cpu:>6,.0f} us CPU/command")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
