"""Runs the workloads: histoire round, peer round, raw round, repeat.

W8 and W9 (PostgreSQL, processes and live following) compare histoire with the
peer only: no raw limit. The projection workloads (W10-W12) are run by
runner_projections.py.
"""

from __future__ import annotations

import gc
import importlib.util
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.base import System
from benchmarks.common import Prepared, pg_drop_schemas, random_schema
from benchmarks.probes import ServerCpu
from benchmarks.runner_projections import ProjectionWorkloads
from benchmarks.sizes import Sizes
from benchmarks.workloads import BY_ID, LATENCIES, WRITER_PROCESSES

SYSTEM_NAMES = ("histoire", "eventsourcing", "raw")


def postgres_unavailable(url: str) -> str | None:
    """Why the PostgreSQL workloads cannot run against `url`, or None if they can."""
    if importlib.util.find_spec("histoire.store.postgres") is None:
        return "histoire.store.postgres does not exist yet (open_store('postgresql://...') fails)"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install -e '.[bench]')"
    from histoire import open_store

    schema = random_schema("bench_probe")
    try:
        store = open_store(url, schema=schema)
        store.close()
    except Exception as exc:
        return f"open_store({url!r}, schema=...) failed: {type(exc).__name__}: {exc}"
    finally:
        try:
            pg_drop_schemas(url, [schema])
        except Exception as exc:  # server unreachable: already reported above
            return f"PostgreSQL at {url} is not usable: {type(exc).__name__}: {exc}"
    return None


class Runner:
    def __init__(
        self,
        *,
        sizes: Sizes,
        rounds: int,
        selected: list[str],
        workdir: Path,
        console: Console,
        postgres_url: str | None,
    ) -> None:
        self.sizes = sizes
        self.rounds = rounds
        self.selected = set(selected)
        self.workdir = workdir
        self.console = console
        self.postgres_url = postgres_url
        self.values: dict[str, dict[str, list[float]]] = {
            wid: {name: [] for name in SYSTEM_NAMES} for wid in selected
        }
        self.ops: dict[str, int] = {}
        self.errors: list[dict[str, str]] = []
        self.skipped: dict[str, str] = {}
        self.durability: dict[str, dict[str, dict[str, object]]] = {}
        self.details: dict[str, dict[str, list[dict[str, Any]]]] = {}
        """Per workload group and system, what each round saw beyond its value (W9)."""
        self.cpu: dict[str, dict[str, list[float]]] = {wid: {} for wid in selected}
        """Per workload and system, this process's CPU microseconds per operation, per round."""
        self.server_cpu: dict[str, dict[str, list[float]]] = {wid: {} for wid in selected}
        """Same, for the PostgreSQL backends serving this process (where /proc tells)."""
        self._server: ServerCpu | None = None

    # -- measuring --------------------------------------------------------------

    def _server_cpu(self, system: System) -> ServerCpu | None:
        if system.kind != "postgres" or self.postgres_url is None:
            return None
        if self._server is None:
            self._server = ServerCpu(self.postgres_url)
        return self._server

    def measure(
        self,
        wid: str,
        system: System,
        prepare: Callable[[], Prepared],
        round_no: int,
        *,
        repeat: bool = True,
    ) -> bool:
        """Prepare (untimed), run (timed), again until the round lasted
        `sizes.min_round_seconds` (if `repeat`), record; False if it failed."""
        record = wid in self.selected
        server = self._server_cpu(system) if record else None
        ops, elapsed, cpu, server_seconds, runs = 0, 0.0, 0.0, 0.0, 0
        try:
            while True:
                run = prepare()
                gc.collect()
                before = server.sample() if server is not None else None
                cpu_started = time.process_time()
                started = time.perf_counter()
                ops += run()
                elapsed += time.perf_counter() - started
                cpu += time.process_time() - cpu_started
                used = ServerCpu.used(before, server.sample()) if server is not None else None
                if used is not None:
                    server_seconds += used
                else:
                    server = None
                runs += 1
                if not repeat or not record or elapsed >= self.sizes.min_round_seconds:
                    break
        except Exception as exc:
            self._failed(wid, system, round_no, exc)
            return False
        rate = ops / elapsed
        if record:
            self.values[wid][system.name].append(rate)
            self.ops[wid] = ops
            self.cpu[wid].setdefault(system.name, []).append(cpu / ops * 1e6)
            extra = f", CPU {cpu / ops * 1e6:,.1f} us/op"
            if server is not None:
                self.server_cpu[wid].setdefault(system.name, []).append(server_seconds / ops * 1e6)
                extra += f", server {server_seconds / ops * 1e6:,.1f}"
            unit = BY_ID[wid].unit
            self.console.print(
                f"  {wid:7} round {round_no} {system.name:13} {rate:>12,.0f} {unit:11} "
                f"({ops:,} in {elapsed:.2f} s, {runs} run(s){extra})"
            )
        return True

    def _failed(self, wid: str, system: System, round_no: int, exc: Exception) -> None:
        self.errors.append(
            {
                "workload": wid,
                "system": system.name,
                "round": str(round_no),
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
        self.console.print(
            f"  [red]{wid:7} round {round_no} {system.name:13} FAILED: "
            f"{type(exc).__name__}: {exc}[/red]"
        )

    def _round_robin(self, systems: list[System], body: Callable[[System, int], None]) -> None:
        for round_no in range(1, self.rounds + 1):
            for system in systems:
                try:
                    body(system, round_no)
                finally:
                    system.cleanup()

    # -- workload groups -----------------------------------------------------------

    def run_chain(self, systems: list[System], ids: dict[str, str]) -> None:
        """W1 -> W2 -> (W3 mid) -> W3 on one fresh database per system and round.

        `ids` maps the roles W1, W2, W3m, W3 to the workload ids of this database
        kind. W1 always runs, as the setup of W2 and W3, and is recorded only if
        selected.
        """
        sizes = self.sizes
        wanted = {role: wid for role, wid in ids.items() if wid in self.selected}
        if not wanted:
            return

        def body(system: System, round_no: int) -> None:
            system.chain_start()
            if not self.measure(
                ids["W1"], system, lambda: system.w1_open_accounts(sizes.accounts), round_no
            ):
                return
            steps: list[tuple[str, Callable[[], Prepared]]] = [
                ("W2", lambda: system.w2_deposits(sizes.deposits)),
                ("W3m", lambda: system.w3_deposits_threads(sizes.deposits, sizes.threads_mid)),
                ("W3", lambda: system.w3_deposits_threads(sizes.deposits, sizes.threads)),
            ]
            for role, prepare in steps:
                if role in wanted and not self.measure(wanted[role], system, prepare, round_no):
                    return

        self._round_robin(systems, body)

    def run_bulk(self, systems: list[System]) -> None:
        if "W4" not in self.selected:
            return
        sizes = self.sizes

        def body(system: System, round_no: int) -> None:
            self.measure(
                "W4",
                system,
                lambda: system.w4_bulk_append(sizes.bulk_streams, sizes.bulk_per_append),
                round_no,
            )

        self._round_robin(systems, body)

    def _prepare_all(
        self, systems: list[System], what: str, prepare: Callable[[System], None]
    ) -> list[System]:
        ready = []
        for system in systems:
            started = time.perf_counter()
            try:
                prepare(system)
            except Exception as exc:
                self.errors.append(
                    {
                        "workload": what,
                        "system": system.name,
                        "round": "setup",
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(),
                    }
                )
                self.console.print(f"  [red]{what} setup of {system.name} FAILED: {exc}[/red]")
                continue
            took = time.perf_counter() - started
            self.console.print(f"  [dim]{what} setup: {system.name} ready in {took:.1f} s[/dim]")
            ready.append(system)
        return ready

    def run_loads(self, systems: list[System]) -> None:
        wanted = [w for w in ("W5a", "W5b") if w in self.selected]
        if not wanted:
            return
        sizes = self.sizes
        ready = self._prepare_all(
            systems, "W5", lambda s: s.w5_prepare(sizes.long_stream, sizes.snapshot_every)
        )

        def body(system: System, round_no: int) -> None:
            for wid in wanted:
                self.measure(
                    wid,
                    system,
                    lambda wid=wid: system.w5_load(  # type: ignore[misc]
                        sizes.snapshot_loads if wid == "W5b" else sizes.loads,
                        snapshots=wid == "W5b",
                    ),
                    round_no,
                )

        self._round_robin(ready, body)

    def run_catch_up(self, systems: list[System], ids: dict[str, str]) -> None:
        wanted = {role: wid for role, wid in ids.items() if wid in self.selected}
        if not wanted:
            return
        sizes = self.sizes
        ready = self._prepare_all(
            systems,
            ids["W6a"].rsplit("a", 1)[0],
            lambda s: s.w6_prepare(sizes.log_streams, sizes.log_per_stream),
        )

        def body(system: System, round_no: int) -> None:
            if "W6a" in wanted:
                self.measure(
                    wanted["W6a"], system, lambda: system.w6_memory(sizes.view_batch), round_no
                )
            if "W6b" in wanted:
                self.measure(
                    wanted["W6b"], system, lambda: system.w6_table(sizes.view_batch), round_no
                )

        self._round_robin(ready, body)

    def run_writer_processes(self, systems: list[System]) -> None:
        """W8: per round, each number of writer processes, histoire then the peer."""
        wanted = [wid for wid in WRITER_PROCESSES if wid in self.selected]
        if not wanted:
            return
        sizes = self.sizes

        def prepare(system: System, processes: int) -> Callable[[], Prepared]:
            return lambda: system.w8_writer_processes(
                processes, sizes.writer_seconds, sizes.writer_accounts
            )

        for round_no in range(1, self.rounds + 1):
            for wid in wanted:
                for system in systems:
                    try:
                        self.measure(
                            wid,
                            system,
                            prepare(system, WRITER_PROCESSES[wid]),
                            round_no,
                            repeat=False,  # fixed duration (writer_seconds)
                        )
                    finally:
                        system.cleanup()

    def run_follow_latency(self, systems: list[System]) -> None:
        """W9: one follow per system and round; p50, p99 and max of its latencies."""
        wanted = [wid for wid in LATENCIES if wid in self.selected]
        if not wanted:
            return
        sizes = self.sizes

        def body(system: System, round_no: int) -> None:
            try:
                latencies = system.w9_follow(sizes.follow_rate, sizes.follow_seconds)
            except Exception as exc:
                self._failed("W9", system, round_no, exc)
                return
            stats = latencies.stats()
            for wid in wanted:
                self.values[wid][system.name].append(stats[LATENCIES[wid]])
            events = len(latencies.samples_ns)
            rate = events / latencies.seconds
            mean = sum(latencies.samples_ns) / events / 1e6
            seen: dict[str, Any] = {"round": round_no, "events": events}
            seen.update({k: round(v, 3) for k, v in stats.items()}, mean=round(mean, 3))
            seen["rate_per_s"] = round(rate, 1)
            self.details.setdefault("W9", {}).setdefault(system.name, []).append(seen)
            self.console.print(
                f"  W9      round {round_no} {system.name:13} p50 {stats['p50']:.2f} ms, "
                f"p99 {stats['p99']:.2f} ms, max {stats['max']:.2f} ms "
                f"({events:,} events at {rate:.0f}/s)"
            )

        self._round_robin(systems, body)

    # -- the whole suite -------------------------------------------------------------

    def _facts(self, kind: str, systems: list[System]) -> None:
        facts: dict[str, dict[str, object]] = {}
        for system in systems:
            try:
                facts[system.name] = system.durability()
            except Exception as exc:
                facts[system.name] = {"error": f"{type(exc).__name__}: {exc}"}
        self.durability[kind] = facts

    def run(self, make_systems: Callable[[str], list[System]]) -> None:
        sqlite_ids = [w for w in self.selected if BY_ID[w].db == "sqlite"]
        if sqlite_ids:
            systems = make_systems("sqlite")
            self._facts("sqlite", systems)
            self.console.rule("SQLite (WAL + synchronous=FULL)")
            try:
                self.run_chain(systems, {"W1": "W1", "W2": "W2", "W3m": "W3m", "W3": "W3"})
                self.run_bulk(systems)
                self.run_loads(systems)
                self.run_catch_up(systems, {"W6a": "W6a", "W6b": "W6b"})
                projections = ProjectionWorkloads(self)
                projections.catch_up(systems, "sqlite")
                projections.live(systems, "sqlite")
                projections.beside_appends(systems)
            finally:
                for system in systems:
                    system.close()
        pg_ids = [w for w in self.selected if BY_ID[w].db == "postgres"]
        if not pg_ids:
            return
        reason = (
            "disabled with --no-postgres"
            if self.postgres_url is None
            else postgres_unavailable(self.postgres_url)
        )
        if reason is not None:
            listed = ", ".join(wid for wid in BY_ID if wid in pg_ids)
            self.console.print(f"[yellow]{listed} skipped: {reason}[/yellow]")
            for wid in pg_ids:
                self.skipped[wid] = reason
                del self.values[wid]
            return
        systems = make_systems("postgres")
        self._facts("postgres", systems)
        self.console.rule(f"PostgreSQL ({self.postgres_url})")
        try:
            self.run_chain(systems, {"W1": "W7.W1", "W2": "W7.W2", "W3": "W7.W3"})
            self.run_catch_up(systems, {"W6a": "W7.W6a", "W6b": "W7.W6b"})
            peers = [system for system in systems if system.name != "raw"]
            self.run_writer_processes(peers)
            self.run_follow_latency(peers)
            projections = ProjectionWorkloads(self)
            projections.catch_up(systems, "postgres")
            projections.live(systems, "postgres")
        finally:
            for system in systems:
                system.close()
            if self._server is not None:
                self._server.close()
                self._server = None


def summary(values: list[float]) -> dict[str, Any] | None:
    import statistics

    if not values:
        return None
    ordered = sorted(values)
    out: dict[str, Any] = {
        "values": values,
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
    }
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4)
        out["q1"], out["q3"] = q1, q3
    return out
