"""`python -m benchmarks --profile`: where histoire spends its time, per operation.

Runs each selected workload once with histoire only, under cProfile, and writes
`profile-<id>.txt` (top functions, plus the time grouped by layer and divided by
the number of operations). cProfile slows Python code down more than C code, so
read the shares, not the absolute numbers; the un-profiled wall time per
operation is printed next to them. Threaded workloads (W3) are profiled on their
main thread only, so they are left out.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.sizes import Sizes
from benchmarks.systems_histoire import HistoireSystem
from benchmarks.workloads import BY_ID

LAYERS = (
    ("histoire/app/", "app (handler)"),
    ("histoire/codec/", "codec"),
    ("histoire/store/group_commit", "store: group commit"),
    ("histoire/store/sqlite", "store: sqlite.py (Python)"),
    ("histoire/store/postgres", "store: postgres.py (Python)"),
    ("histoire/store/", "store: other (checks, protocol)"),
    ("histoire/core/", "core (events, versions, streams)"),
    ("histoire/examples/", "domain (bank decider)"),
    ("benchmarks/", "benchmark loop"),
    ("uuid.py", "uuid"),
    ("threading.py", "threading"),
    ("datetime", "datetime"),
)


def _layer(filename: str, funcname: str) -> str:
    if filename == "~":
        if "sqlite3" in funcname:
            return "sqlite3 C calls (SQL, commit, fsync)"
        if "msgspec" in funcname:
            return "msgspec (C)"
        if "psycopg" in funcname:
            return "psycopg"
        return "builtins (C)"
    for needle, layer in LAYERS:
        if needle in filename:
            return layer
    if "psycopg" in filename:
        return "psycopg"
    return "other Python"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[_layer(filename, funcname)] += tottime
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def profile(
    selected: list[str],
    sizes: Sizes,
    workdir: Path,
    out: Path,
    console: Console,
    postgres_url: str | None,
) -> int:
    jobs = {
        "W1": lambda s: s.w1_open_accounts(sizes.accounts),
        "W2": lambda s: s.w2_deposits(sizes.deposits),
        "W4": lambda s: s.w4_bulk_append(sizes.bulk_streams, sizes.bulk_per_append),
        "W5a": lambda s: s.w5_load(sizes.loads, snapshots=False),
        "W5b": lambda s: s.w5_load(sizes.loads, snapshots=True),
        "W6a": lambda s: s.w6_memory(sizes.view_batch),
        "W6b": lambda s: s.w6_table(sizes.view_batch),
    }
    wanted = [w for w in selected if w in jobs]
    if not wanted:
        console.print("nothing to profile: choose among " + ", ".join(jobs))
        return 2
    system = HistoireSystem("sqlite", workdir, sizes)
    try:
        if {"W1", "W2"} & set(wanted):
            system.chain_start()
        if {"W5a", "W5b"} & set(wanted):
            system.w5_prepare(sizes.long_stream, sizes.snapshot_every)
        if {"W6a", "W6b"} & set(wanted):
            system.w6_prepare(sizes.log_streams, sizes.log_per_stream)
        if "W2" in wanted and "W1" not in wanted:
            system.w1_open_accounts(sizes.accounts)()
        for wid in wanted:
            # Once without the profiler for the wall time per op, then profiled.
            if wid not in ("W1", "W2"):
                run = jobs[wid](system)
                gc.collect()
                started = time.perf_counter()
                ops = run()
                wall = (time.perf_counter() - started) / ops
            else:
                wall = None
            run = jobs[wid](system)
            gc.collect()
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            ops = run()
            profiler.disable()
            profiled = (time.perf_counter() - started) / ops
            stats = pstats.Stats(profiler)
            layers = by_layer(stats)
            total = sum(layers.values())
            table = Table(
                title=f"{wid} ({BY_ID[wid].title}): {ops:,} ops, per op", show_lines=False
            )
            table.add_column("layer")
            table.add_column("us/op (profiled)", justify="right")
            table.add_column("share", justify="right")
            for layer, seconds in layers.items():
                table.add_row(layer, f"{seconds / ops * 1e6:,.1f}", f"{seconds / total:.0%}")
            console.print(table)
            wall_text = f"{wall * 1e6:,.1f} us/op without profiler, " if wall else ""
            console.print(f"  {wall_text}{profiled * 1e6:,.1f} us/op under cProfile")
            buffer = io.StringIO()
            buffer.write(
                f"{wid}: {BY_ID[wid].title}\n{ops} ops; {wall_text}"
                f"{profiled * 1e6:.1f} us/op under cProfile\n\nby layer (us/op, share):\n"
            )
            for layer, seconds in layers.items():
                buffer.write(f"  {layer:40} {seconds / ops * 1e6:10.1f} {seconds / total:6.0%}\n")
            for order in ("tottime", "cumulative"):
                buffer.write(f"\n\n== top 40 by {order} ==\n")
                pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(40)
            path = out / f"profile-{wid}.txt"
            path.write_text(buffer.getvalue())
            profiler.dump_stats(out / f"profile-{wid}.prof")
            console.print(f"  wrote {path}")
            if wid not in ("W1", "W2"):  # W2 deposits on the accounts W1 opened
                system.cleanup()
    finally:
        system.close()
    return 0
