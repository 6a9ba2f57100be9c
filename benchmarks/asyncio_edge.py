"""The asyncio edge side by side with the blocking edge and eventsource-py.

    python -m benchmarks.asyncio_edge [--rounds 3] [--db sqlite,postgres] [--out FILE]

W1 open accounts (one new stream each), W2 deposits (load, decide, append),
W3 the deposits of W2 from 16 concurrent writers (threads on the blocking
edge, tasks on the async ones), W5 load a 1,000-event stream, W6 catch up the
log into a dict. Each round opens every system on a fresh database (SQLite
file, PostgreSQL schema), in a rotating order; the report gives the median of
the rounds: operations per second (wall) and CPU per operation (this
process's time, all threads). Durable settings everywhere (SQLite WAL with
synchronous=FULL for histoire; eventsource-py's SQLite store defaults to WAL
with SQLite's default synchronous, FULL; PostgreSQL synchronous_commit on).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.asyncio_systems import AsyncEdge, BlockingEdge, EventsourcePy, Where
from benchmarks.common import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV, pg_drop_schemas

SIZES = {
    "sqlite": {"n": 500, "events": 1000, "loads": 50, "streams": 100, "per_stream": 100},
    "postgres": {"n": 1000, "events": 1000, "loads": 50, "streams": 100, "per_stream": 100},
}
TINY = {"n": 20, "events": 50, "loads": 3, "streams": 5, "per_stream": 10}
WORKLOADS = ("W1", "W2", "W3", "W5", "W6")
SYSTEMS = ("sync", "async", "eventsource-py")


async def _timed(run: Any) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    ops = await run() if inspect.iscoroutinefunction(run) else run()
    return ops, time.perf_counter() - wall, time.process_time() - cpu


async def one_round(
    db: str, name: str, where: Where, size: dict[str, int]
) -> dict[str, tuple[int, float, float]]:
    system: Any
    if name == "sync":
        system = BlockingEdge(where)
    elif name == "async":
        system = await AsyncEdge(where).open()
    else:
        system = await EventsourcePy(where).open()
    out: dict[str, tuple[int, float, float]] = {}
    try:
        out["W1"] = await _timed(await system.w1(size["n"]))
        out["W2"] = await _timed(await system.w2(size["n"]))
        out["W3"] = await _timed(await system.w3(size["n"]))
        out["W5"] = await _timed(await system.w5(size["events"], size["loads"]))
        out["W6"] = await _timed(await system.w6(size["streams"], size["per_stream"]))
    finally:
        await system.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--out", default="benchmarks/results/asyncio.json")
    parser.add_argument("--tiny", action="store_true", help="a few operations: does it run?")
    args = parser.parse_args(argv)
    sizes = {db: TINY for db in SIZES} if args.tiny else SIZES
    import os

    url = args.postgres_url or os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    results: dict[str, dict[str, dict[str, list[list[float]]]]] = {}
    for db in args.db.split(","):
        results[db] = {w: {s: [] for s in SYSTEMS} for w in WORKLOADS}
        for round_no in range(args.rounds):
            order = SYSTEMS[round_no % 3 :] + SYSTEMS[: round_no % 3]
            for name in order:
                with tempfile.TemporaryDirectory(prefix="histoire-aio-") as folder:
                    where = Where(db, Path(folder), url if db == "postgres" else None)
                    try:
                        measured = asyncio.run(one_round(db, name, where, sizes[db]))
                    finally:
                        if where.schemas:
                            pg_drop_schemas(url, where.schemas)
                for wid, (ops, wall, cpu) in measured.items():
                    results[db][wid][name].append([ops, wall, cpu])
                    print(
                        f"{db:8} {wid} round {round_no + 1} {name:14} {ops / wall:>10,.0f} ops/s"
                        f"  {cpu / ops * 1e6:>8,.0f} us CPU/op",
                        flush=True,
                    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"sizes": sizes, "results": results}, indent=1))
    print(report(results))
    return 0


def report(results: dict[str, dict[str, dict[str, list[list[float]]]]]) -> str:
    """A markdown table: medians of the rounds, and the ratios the goals speak of."""
    lines = [
        "| db | workload | sync ops/s | async ops/s | eventsource-py ops/s | async/sync "
        "| async/eventsource-py | CPU us/op sync / async / eventsource-py |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for db, by_workload in results.items():
        for wid, by_system in by_workload.items():
            rate = {s: statistics.median(o / w for o, w, _ in r) for s, r in by_system.items() if r}
            cpu = {
                s: statistics.median(c / o * 1e6 for o, _, c in r)
                for s, r in by_system.items()
                if r
            }
            if len(rate) < 3:
                continue
            lines.append(
                f"| {db} | {wid} | {rate['sync']:,.0f} | {rate['async']:,.0f} "
                f"| {rate['eventsource-py']:,.0f} | {rate['async'] / rate['sync']:.2f} "
                f"| {rate['async'] / rate['eventsource-py']:.1f} "
                f"| {cpu['sync']:,.0f} / {cpu['async']:,.0f} / {cpu['eventsource-py']:,.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
