"""Runs the projection workloads: W10 (catch-up), W11 (live latency), W12 (W2 beside one).

Rounds are interleaved as elsewhere: per round, each system in turn.

- W10: per round, histoire with per-event handlers (a), histoire with batch
  handlers (b), eventsourcing (a only: its runner has no batches), then the
  raw limit (batched whatever the mode: its one round fills the a and b rows
  alike). Runners that commit or round-trip per event (eventsourcing) catch up
  the first `catchup_slow_events` events of the same log and are timed on
  those: their rate does not depend on the log's length. histoire in mode a on
  PostgreSQL no longer round-trips per event (its writes are sent ahead, those
  of one text as one executemany): it runs the whole log like the others, so
  that its per-run costs (the view's table, the generation) are not counted
  against 10,000 events only. The large log (W10L, 1,000,000 events, only with
  --only) runs histoire and raw.
  Memory: in the first round, each catch-up runs once more, untimed, under
  tracemalloc: the peak of what Python allocated (flat if it does not grow
  with the log; compare W10 and W10L).
- W11: per round, histoire then eventsourcing (PostgreSQL only: it cannot
  follow SQLite), then on PostgreSQL the raw floor (live_raw.py: LISTEN +
  SELECT + one transaction by hand); the idle CPU is measured in the first
  round only.
- W12: histoire only, SQLite: per round a fresh store, W1 to open the
  accounts (not reported), then W2 in segments alternately with the
  projection process paused and running live (see beside.py).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from benchmarks.base import System
from benchmarks.catchup import BATCHED, EVENT, NotSupported
from benchmarks.common import split
from benchmarks.live import measure_live
from benchmarks.probes import Probe, ServerCpu, process_cpu_seconds
from benchmarks.workloads import BY_ID, CATCH_UPS

if TYPE_CHECKING:
    from benchmarks.runner import Runner

T = TypeVar("T")
MODES = {"a": EVENT, "b": BATCHED}
W12_SEGMENTS = 6
"""W12: a round's deposits in this many segments, alternately without and with the projection."""


class ProjectionWorkloads:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.sizes = runner.sizes
        self.selected = runner.selected
        self._noted: set[str] = set()

    def _note(self, system: System, exc: NotSupported) -> None:
        if system.name not in self._noted:
            self._noted.add(system.name)
            self.runner.console.print(f"  [dim]{system.name}: {exc}[/dim]")
            self.runner.details.setdefault("notes", {}).setdefault(system.name, []).append(str(exc))

    def _attempt(self, wid: str, system: System, round_no: int, work: Callable[[], T]) -> T | None:
        """`work()`, or None if the system cannot (noted) or it failed (recorded)."""
        try:
            return work()
        except NotSupported as exc:
            self._note(system, exc)
        except Exception as exc:
            self.runner._failed(wid, system, round_no, exc)
        return None

    def _record(self, wid: str, system: System, value: float | None) -> None:
        if wid in self.selected and value is not None:
            self.runner.values[wid][system.name].append(value)

    # -- W10 ------------------------------------------------------------------------------

    def catch_up(self, systems: list[System], kind: str) -> None:
        for prefix, (db, large) in CATCH_UPS.items():
            modes = [m for m in MODES if any(w.startswith(f"{prefix}.{m}") for w in self.selected)]
            if db == kind and modes:
                taking = [s for s in systems if not large or s.name != "eventsourcing"]
                self._catch_up(prefix, taking, modes, large)

    def _catch_up(self, prefix: str, systems: list[System], modes: list[str], large: bool) -> None:
        sizes = self.sizes
        streams = sizes.catchup_large_streams if large else sizes.catchup_streams
        per_stream = sizes.catchup_per_stream
        ready = self.runner._prepare_all(
            systems, prefix, lambda s: s.w10_prepare(streams, per_stream)
        )
        url = self.runner.postgres_url if systems and systems[0].kind == "postgres" else None
        server = ServerCpu(url) if url is not None else None
        try:
            for round_no in range(1, self.runner.rounds + 1):
                for system in ready:
                    try:
                        system_modes = modes[:1] if system.name == "raw" else modes
                        for mode in system_modes:
                            self._one_catch_up(prefix, system, mode, modes, round_no, server)
                    finally:
                        system.cleanup()
        finally:
            if server is not None:
                server.close()

    def _one_catch_up(
        self,
        prefix: str,
        system: System,
        mode: str,
        modes: list[str],
        round_no: int,
        server: ServerCpu | None,
    ) -> None:
        slow = system.name == "eventsourcing"
        budget = self.sizes.catchup_slow_events if slow else None
        wid = f"{prefix}.{mode}"
        probe = Probe(server)

        def work() -> int:
            run = system.w10_catch_up(MODES[mode], budget)
            gc.collect()
            return run(probe)

        events = self._attempt(wid, system, round_no, work)
        if events is None:
            return
        usage = probe.usage
        memory = self._memory(system, mode, budget) if round_no == 1 else None
        rate = events / usage.seconds
        per_event = 1e6 / events
        # The raw limit is batched in both modes: one round counts for every row.
        for m in modes if system.name == "raw" else [mode]:
            row = f"{prefix}.{m}"
            self._record(row, system, rate)
            self._record(f"{row}.cpu", system, usage.cpu_seconds * per_event)
            if usage.server_cpu_seconds is not None:
                self._record(f"{row}.srv", system, usage.server_cpu_seconds * per_event)
            if memory is not None:
                self._record(f"{row}.mem", system, memory / 1e6)
        seen = {
            "round": round_no,
            "mode": mode,
            "events": events,
            "seconds": round(usage.seconds, 3),
            "cpu_us_per_event": round(usage.cpu_seconds * per_event, 2),
            "server_cpu_us_per_event": None
            if usage.server_cpu_seconds is None
            else round(usage.server_cpu_seconds * per_event, 2),
            "peak_python_memory_mb": None if memory is None else round(memory / 1e6, 2),
            "peak_rss_growth_mb": None
            if usage.peak_rss_growth is None
            else round(usage.peak_rss_growth / 1e6, 1),
        }
        self.runner.details.setdefault(prefix, {}).setdefault(system.name, []).append(seen)
        server_text = (
            ""
            if usage.server_cpu_seconds is None
            else f", server {usage.server_cpu_seconds * per_event:.1f}"
        )
        memory_text = "" if memory is None else f"; Python memory peak {memory / 1e6:.2f} MB"
        self.runner.console.print(
            f"  {wid:9} round {round_no} {system.name:13} {rate:>12,.0f} events/s    "
            f"({events:,} in {usage.seconds:.2f} s; CPU {usage.cpu_seconds * per_event:.2f} "
            f"us/event{server_text}{memory_text})"
        )

    def _memory(self, system: System, mode: str, budget: int | None) -> int | None:
        """Peak bytes Python allocated during one more catch-up (untimed: tracemalloc is slow)."""
        try:
            run = system.w10_catch_up(MODES[mode], budget)
            gc.collect()
            tracemalloc.start()
            try:
                run(Probe())
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        except Exception as exc:
            self.runner.console.print(f"  [red]memory pass of {system.name} failed: {exc}[/red]")
            return None
        finally:
            system.cleanup()

    # -- W11 ------------------------------------------------------------------------------

    def live(self, systems: list[System], kind: str) -> None:
        prefix = "W11" if kind == "sqlite" else "W11.pg"
        if not any(w.startswith("W11") and BY_ID[w].db == kind for w in self.selected):
            return
        for round_no in range(1, self.runner.rounds + 1):
            for system in systems:
                if type(system).w11_side is System.w11_side:
                    continue  # no live side (raw on SQLite: its floor would be a busy loop)
                try:
                    self._one_live(prefix, system, round_no)
                finally:
                    system.cleanup()

    def _one_live(self, prefix: str, system: System, round_no: int) -> None:
        sizes = self.sizes
        result = self._attempt(
            prefix,
            system,
            round_no,
            lambda: measure_live(
                system.w11_side(),
                rate=sizes.live_rate,
                count=round(sizes.live_rate * sizes.live_seconds),
                fast_seconds=sizes.live_fast_seconds,
                idle_seconds=sizes.live_idle_seconds if round_no == 1 else 0.0,
            ),
        )
        if result is None:
            return
        paced, fast = result.paced.stats(), result.fast.stats()
        fast_rate = len(result.fast.samples_ns) / result.fast.seconds
        for stat in ("p50", "p99", "max"):
            self._record(f"{prefix}.{stat}", system, paced[stat])
            self._record(f"{prefix}.fast.{stat}", system, fast[stat])
        self._record(f"{prefix}.fast.rate", system, fast_rate)
        idle = None if result.idle_cpu is None else result.idle_cpu * 100
        self._record(f"{prefix}.idle", system, idle)
        seen: dict[str, Any] = {"round": round_no}
        seen["paced"] = {k: round(v, 3) for k, v in paced.items()}
        seen["paced"]["events"] = len(result.paced.samples_ns)
        seen["paced"]["rate_per_s"] = round(len(result.paced.samples_ns) / result.paced.seconds, 1)
        seen["fast"] = {k: round(v, 3) for k, v in fast.items()}
        seen["fast"]["events"] = len(result.fast.samples_ns)
        seen["fast"]["rate_per_s"] = round(fast_rate, 1)
        seen["paced_from_append_start"] = {
            k: round(v, 3) for k, v in result.paced_from_send.stats().items()
        }
        seen["fast_from_append_start"] = {
            k: round(v, 3) for k, v in result.fast_from_send.stats().items()
        }
        seen["idle_cpu_percent"] = None if idle is None else round(idle, 2)
        self.runner.details.setdefault(prefix, {}).setdefault(system.name, []).append(seen)
        idle_text = "" if idle is None else f"; idle CPU {idle:.2f}%"
        self.runner.console.print(
            f"  {prefix:9} round {round_no} {system.name:13} 100/s: p50 {paced['p50']:.2f} ms, "
            f"p99 {paced['p99']:.2f}, max {paced['max']:.2f}; flat out ({fast_rate:,.0f}/s): "
            f"p50 {fast['p50']:.2f}, p99 {fast['p99']:.2f}, max {fast['max']:.2f}{idle_text} "
            f"(from the append's start, 100/s: p50 {result.paced_from_send.percentile(50):.2f}, "
            f"p99 {result.paced_from_send.percentile(99):.2f})"
        )

    # -- W12 ------------------------------------------------------------------------------

    def beside_appends(self, systems: list[System]) -> None:
        if not {"W12.off", "W12.on"} & self.selected:
            return
        histoire: Any = next((s for s in systems if s.name == "histoire"), None)
        if histoire is None:
            return
        for round_no in range(1, self.runner.rounds + 1):
            try:
                self._one_w12(histoire, round_no)
            except Exception as exc:
                self.runner._failed("W12", histoire, round_no, exc)
            finally:
                histoire.cleanup()

    def _one_w12(self, histoire: Any, round_no: int) -> None:
        histoire.chain_start()
        histoire.w1_open_accounts(self.sizes.accounts)()
        process = histoire.w12_projection_process()
        segments = split(histoire.accounts[: self.sizes.deposits], W12_SEGMENTS)
        spent = {"off": 0.0, "on": 0.0}
        done = {"off": 0, "on": 0}
        cpu, lags = 0.0, []
        for index, accounts in enumerate(segments):
            phase = ("off", "on")[(index + round_no) % 2]
            if phase == "on":
                process.resume()
            run = histoire.deposits_on(accounts)
            gc.collect()
            before = process_cpu_seconds(process.process.pid)
            started = time.perf_counter()
            done[phase] += run()
            spent[phase] += time.perf_counter() - started
            after = process_cpu_seconds(process.process.pid)
            if phase == "on":
                lags.append(process.lag())
                process.pause()
                if before is not None and after is not None:
                    cpu += after - before
        process.stop()
        rates = {phase: done[phase] / spent[phase] for phase in spent}
        for phase, rate in rates.items():
            self._record(f"W12.{phase}", histoire, rate)
        self._record("W12.ratio", histoire, rates["on"] / rates["off"])
        busy = cpu / spent["on"] * 100
        self.runner.details.setdefault("W12", {}).setdefault("histoire", []).append(
            {"round": round_no, "projection_process_cpu_percent_while_on": round(busy, 1)}
            | {"view_lag_events_at_segment_ends": lags}
            | {f"{phase}_commands_per_s": round(rate, 1) for phase, rate in rates.items()}
        )
        self.runner.console.print(
            f"  W12       round {round_no} histoire      off {rates['off']:,.0f}, on "
            f"{rates['on']:,.0f} commands/s: {rates['on'] / rates['off']:.2f} "
            f"({done['on']:,} deposits each side in {W12_SEGMENTS // 2} segments; projection "
            f"process CPU {busy:.0f}% while on; view behind by {max(lags)} events at most "
            "at a segment's end)"
        )
