"""`python -m benchmarks --profile`: where histoire spends its time, per operation.

Runs each selected workload with histoire only: once without the profiler (the
wall time per operation), once under cProfile, and writes `profile-<id>.txt`
(the time grouped by layer and divided by the number of operations, then the
top functions) and `profile-<id>.prof` (for snakeviz, pstats...). cProfile slows
Python code down more than C code, so read the shares, and compare with the wall
time and with the machine's cost of one durable commit, printed first.

Threaded workloads (W3) get one profiler per thread, merged; their lock waits
are shown per thread (the threads wait at once: summed, they would exceed the
wall time), and the report gives the sizes of the group-commit batches.
W7.W1-W7.W3 profile the same chain on PostgreSQL (`--postgres`).
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.catchup import BATCHED, EVENT
from benchmarks.common import remove_sqlite, split, sqlite_connect
from benchmarks.probes import Probe
from benchmarks.sizes import Sizes
from benchmarks.systems_histoire import HistoireSystem
from benchmarks.workloads import BY_ID

LAYERS = (
    ("histoire/app/projections", "app: projections (runner, context)"),
    ("histoire/app/follower", "app: follower"),
    ("histoire/app/", "app (handler)"),
    ("histoire/codec/", "codec"),
    ("histoire/store/sqlite/group_commit", "store: group commit"),
    ("histoire/store/transactions", "store: transactions (read models)"),
    ("histoire/store/progress", "store: progress (checkpoints)"),
    ("histoire/store/sqlite", "store: sqlite*.py (Python)"),
    ("histoire/store/postgres", "store: postgres*.py (Python)"),
    ("histoire/store/", "store: other (checks, protocol)"),
    ("histoire/core/", "core (events, versions, streams)"),
    ("histoire/examples/", "domain (bank decider)"),
    ("benchmarks/", "benchmark loop"),
    ("uuid.py", "uuid (stdlib)"),
    ("threading.py", "threading (stdlib)"),
    ("datetime", "datetime"),
)


def _layer(filename: str, funcname: str) -> str:
    if filename == "~":
        if "sqlite3" in funcname:
            if "execute" in funcname:
                return "sqlite3 execute (SQL incl. COMMIT+fsync)"
            return "sqlite3 other (fetch, cursor)"
        if "msgspec" in funcname:
            return "msgspec (C)"
        if "acquire" in funcname or "lock" in funcname:
            return "lock waits (C)"
        return "builtins (C)"
    for needle, layer in LAYERS:
        if needle in filename:
            return layer
    if "psycopg" in filename:
        return "psycopg"
    return "other Python"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[_layer(filename, funcname)] += tottime
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def durable_commit_cost(workdir: Path, n: int = 300) -> float:
    """Median seconds of one transaction inserting one small row, WAL + synchronous=FULL."""
    path = workdir / "commit-cost.db"
    remove_sqlite(path)
    conn = sqlite_connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (data) VALUES (?)", (b"x" * 100,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    remove_sqlite(path)
    return statistics.median(times)


def _threaded_profiled(
    parts: list[list[str]], work: Callable[[str], Any], profile: bool
) -> tuple[Callable[[], int], list[cProfile.Profile]]:
    profilers: list[cProfile.Profile] = []
    barrier = threading.Barrier(len(parts) + 1)
    errors: list[BaseException] = []

    def worker(part: list[str]) -> None:
        profiler = cProfile.Profile() if profile else None
        barrier.wait()
        if profiler is not None:
            profiler.enable()
        try:
            for item in part:
                work(item)
        except BaseException as exc:
            errors.append(exc)
        finally:
            if profiler is not None:
                profiler.disable()
                profilers.append(profiler)

    threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in parts]
    for thread in threads:
        thread.start()

    def run() -> int:
        barrier.wait()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sum(len(p) for p in parts)

    return run, profilers


class _BatchSizes:
    """Wraps the store's group-commit batch runner to count batch sizes (profile mode only)."""

    def __init__(self, store: Any) -> None:
        self.sizes: Counter[int] = Counter()
        self.committer = getattr(store, "_committer", None)
        self.original = getattr(self.committer, "_run_batch", None)
        if self.original is not None:
            original = self.original

            def counted(batch: list[Any]) -> None:
                self.sizes[len(batch)] += 1
                original(batch)

            self.committer._run_batch = counted  # type: ignore[union-attr]

    def restore(self) -> None:
        if self.original is not None:
            self.committer._run_batch = self.original  # type: ignore[union-attr]

    def text(self) -> str:
        if not self.sizes:
            return "group-commit batch sizes: not observed"
        batches = sum(self.sizes.values())
        requests = sum(size * count for size, count in self.sizes.items())
        common = ", ".join(f"{size}: {count}" for size, count in self.sizes.most_common(8))
        return (
            f"group-commit batches: {batches} for {requests} appends, "
            f"mean {requests / batches:.2f} per batch (size: count) {common}"
        )


def profile(
    selected: list[str],
    sizes: Sizes,
    workdir: Path,
    out: Path,
    console: Console,
    postgres_url: str | None,
) -> int:
    chain = [w for w in ("W1", "W2", "W3") if w in selected]
    pg_chain = [w for w in ("W7.W1", "W7.W2", "W7.W3") if w in selected]
    simple: dict[str, Callable[[HistoireSystem], Callable[[], int]]] = {
        "W4": lambda s: s.w4_bulk_append(sizes.bulk_streams, sizes.bulk_per_append),
        "W5a": lambda s: s.w5_load(sizes.loads, snapshots=False),
        "W5b": lambda s: s.w5_load(sizes.snapshot_loads, snapshots=True),
        "W6a": lambda s: s.w6_memory(sizes.view_batch),
        "W6b": lambda s: s.w6_table(sizes.view_batch),
        "W10.a": lambda s: _catch_up(s, EVENT),
        "W10.b": lambda s: _catch_up(s, BATCHED),
    }
    others = [w for w in selected if w in simple]
    if not chain and not others and not pg_chain:
        console.print(
            "nothing to profile: choose among W1, W2, W3, W7.W1, W7.W2, W7.W3, " + ", ".join(simple)
        )
        return 2
    if pg_chain and postgres_url is None:
        console.print(f"{', '.join(pg_chain)} need PostgreSQL: --postgres URL, not --no-postgres")
        return 2
    commit = durable_commit_cost(workdir)
    console.print(
        f"one durable commit of one small row on this disk (WAL, synchronous=FULL): "
        f"{commit * 1e6:,.0f} us (median)"
    )
    system = HistoireSystem("sqlite", workdir, sizes)
    header = f"durable commit of one small row on this disk: {commit * 1e6:.0f} us (median)\n"
    try:
        if chain:
            _profile_chain(system, chain, sizes, out, console, header)
        if pg_chain:
            pg_system = HistoireSystem("postgres", workdir, sizes, postgres_url)
            try:
                _profile_chain(pg_system, pg_chain, sizes, out, console, "")
            finally:
                pg_system.close()
        if {"W5a", "W5b"} & set(others):
            system.w5_prepare(sizes.long_stream, sizes.snapshot_every)
        if {"W6a", "W6b"} & set(others):
            system.w6_prepare(sizes.log_streams, sizes.log_per_stream)
        if {"W10.a", "W10.b"} & set(others):
            system.w10_prepare(sizes.catchup_streams, sizes.catchup_per_stream)
        for wid in others:
            simple[wid](system)()  # warm-up (first connection, caches)
            system.cleanup()
            run = simple[wid](system)
            gc.collect()
            started = time.perf_counter()
            ops = run()
            wall = (time.perf_counter() - started) / ops
            system.cleanup()
            run = simple[wid](system)
            gc.collect()
            profiler = cProfile.Profile()
            profiler.enable()
            run()
            profiler.disable()
            system.cleanup()
            _write(wid, ops, wall, [profiler], out, console, header)
    finally:
        system.close()
    return 0


def _catch_up(system: HistoireSystem, mode: str) -> Callable[[], int]:
    run = system.w10_catch_up(mode, None)
    return lambda: run(Probe())


def _profile_chain(
    system: HistoireSystem,
    chain: list[str],
    sizes: Sizes,
    out: Path,
    console: Console,
    header: str,
) -> None:
    """W1 -> W2 -> W3 twice on fresh databases: first for the wall time, then profiled.

    `chain` holds workload ids: W1-W3 on SQLite, W7.W1-W7.W3 on PostgreSQL."""
    walls: dict[str, float] = {}
    batch_notes: dict[str, str] = {}
    prefix = "W7." if system.kind == "postgres" else ""
    for profiled in (False, True):
        system.chain_start()
        profilers: dict[str, list[cProfile.Profile]] = {}
        for wid in (f"{prefix}W1", f"{prefix}W2", f"{prefix}W3"):
            if wid not in chain and wid != f"{prefix}W1":
                continue
            counter = _BatchSizes(system.store) if wid.endswith("W3") else None
            if wid.endswith("W3"):
                handle = system.handler.handle
                from histoire.examples import bank

                command = bank.Deposit(amount_cents=100)
                run, thread_profilers = _threaded_profiled(
                    split(system.accounts[: sizes.deposits], sizes.threads),
                    lambda s, handle=handle, command=command: handle(s, command),
                    profiled,
                )
                profilers[wid] = thread_profilers
            else:
                run = (
                    system.w1_open_accounts(sizes.accounts)
                    if wid.endswith("W1")
                    else system.w2_deposits(sizes.deposits)
                )
                if profiled:
                    profiler = cProfile.Profile()
                    inner = run

                    def run(
                        inner: Callable[[], int] = inner, p: cProfile.Profile = profiler
                    ) -> int:
                        p.enable()
                        try:
                            return inner()
                        finally:
                            p.disable()

                    profilers[wid] = [profiler]
            gc.collect()
            started = time.perf_counter()
            ops = run()
            elapsed = time.perf_counter() - started
            if counter is not None:
                counter.restore()
                batch_notes[wid] = counter.text()
            if not profiled:
                walls[wid] = elapsed / ops
            elif wid in chain:
                note = batch_notes.get(wid, "")
                _write(wid, ops, walls[wid], profilers[wid], out, console, header + note)
        system.cleanup()


def _write(
    wid: str,
    ops: int,
    wall: float,
    profilers: list[cProfile.Profile],
    out: Path,
    console: Console,
    header: str,
) -> None:
    stats = pstats.Stats(profilers[0])
    for extra in profilers[1:]:
        stats.add(extra)
    layers = by_layer(stats)
    threads = len(profilers)
    if threads > 1 and "lock waits (C)" in layers:
        # The threads wait at the same time: their summed waits would exceed the wall time.
        layers[f"lock waits (C), per thread of {threads}"] = layers.pop("lock waits (C)") / threads
    total = sum(layers.values())
    title = f"{wid} ({BY_ID[wid].title}): {ops:,} ops; {wall * 1e6:,.1f} us/op wall, no profiler"
    table = Table(title=title)
    table.add_column("layer")
    table.add_column("us/op (profiled)", justify="right")
    table.add_column("share", justify="right")
    for layer, seconds in layers.items():
        table.add_row(layer, f"{seconds / ops * 1e6:,.1f}", f"{seconds / total:.0%}")
    console.print(table)
    if header.strip():
        console.print(f"  [dim]{header.strip()}[/dim]")
    buffer = io.StringIO()
    buffer.write(f"{header}{title}\n(threads: {len(profilers)} profilers merged)\n\n")
    buffer.write("by layer (us/op under cProfile, share):\n")
    for layer, seconds in layers.items():
        buffer.write(f"  {layer:42} {seconds / ops * 1e6:10.1f} {seconds / total:6.0%}\n")
    for order in ("tottime", "cumulative"):
        buffer.write(f"\n\n== top 45 by {order} ==\n")
        stats.stream = buffer  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(45)
    path = out / f"profile-{wid}.txt"
    path.write_text(buffer.getvalue())
    stats.dump_stats(out / f"profile-{wid}.prof")
    console.print(f"  wrote {path}")
