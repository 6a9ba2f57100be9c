"""Reaction figures: throughput (catch-up) and latency (append to caused event stored).

    python -m benchmarks.reactions [--events N] [--rounds R] [--no-postgres]

A reaction handles `Pinged` events by issuing one command each (so one caused
event each, with derived command id, causation and correlation). Throughput is
a catch-up over N stored pings; latency comes from an appender in another
process (100 pings/s) while the reaction runs live here: the time from the
ping's append to the caused event stored, as seen by the handler once
`ctx.issue` returned. Prints medians of rounds and CPU time per event. Not a
test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from histoire import Application, Command, Decider, Event, EventStore, open_store
from histoire.app.reactions import Reaction, ReactionContext, ReactionRunner
from histoire.codec.codec import Codec


class Pinged(Event):
    type_name: ClassVar[str] = "bench.Pinged"
    sent: float


class Echo(Command):
    sent: float


class Echoed(Event):
    type_name: ClassVar[str] = "bench.Echoed"
    sent: float


echoes = Decider(
    name="echoes",
    initial_state=lambda: 0,
    decide=lambda command, state: [Echoed(sent=command.sent)],
    evolve=lambda state, event: state + 1,
    events=[Echoed],
)


def make_reaction(latencies: list[float] | None = None) -> Reaction:
    reaction = Reaction("echo")

    @reaction.on(Pinged)
    def echo(event: Pinged, ctx: ReactionContext) -> None:
        ctx.issue("echoes", f"echo-{ctx.record.stream_id.split('-', 1)[1]}", Echo(sent=event.sent))
        if latencies is not None:
            latencies.append(time.time() - event.sent)

    return reaction


def make_app(reaction: Reaction) -> Application:
    return Application(name="bench", deciders=[echoes], events=[Pinged], reactions=[reaction])


def fill(store: EventStore, count: int, streams: int = 1000) -> None:
    codec = Codec([Pinged])
    for start in range(0, count, 500):
        for n in range(start, min(start + 500, count)):
            store.append(f"ping-{n % streams}", [codec.encode(Pinged(sent=time.time()))])


def throughput(url: str, options: dict[str, Any], count: int) -> tuple[float, float]:
    """(events/s, CPU microseconds per event) of one catch-up over `count` pings."""
    store = open_store(url, **options)
    fill(store, count)
    reaction = make_reaction()
    runner = ReactionRunner(store, reaction, app=make_app(reaction), batch_size=500)
    cpu, wall = time.process_time(), time.perf_counter()
    report = runner.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    assert report.handled == count, report
    return count / wall, cpu / count * 1e6


def ping(url: str, options: dict[str, Any], rate: float, seconds: float) -> None:
    store = open_store(url, **options)
    codec = Codec([Pinged])
    pause = 1 / rate
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        store.append(f"ping-{n % 50}", [codec.encode(Pinged(sent=time.time()))])
        n += 1
        time.sleep(pause)
    store.close()


def latency(url: str, options: dict[str, Any], rate: float, seconds: float) -> list[float]:
    """Append-to-caused-event latencies (s) with the appender in another process."""
    store = open_store(url, **options)
    latencies: list[float] = []
    reaction = make_reaction(latencies)
    runner = ReactionRunner(store, reaction, app=make_app(reaction), batch_size=100)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, kwargs={"live": True, "stop": stop})
    thread.start()
    time.sleep(0.5)
    process = multiprocessing.get_context("spawn").Process(
        target=ping, args=(url, options, rate, seconds)
    )
    process.start()
    process.join()
    time.sleep(0.5)
    stop.set()
    thread.join()
    store.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    backends: list[tuple[str, Any]] = [("sqlite", None)]
    if not args.no_postgres:
        backends.append(("postgres", args.postgres))
    schemas: list[str] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        try:
            _run(backends, Path(folder), args, schemas)
        finally:
            _drop(args.postgres, schemas)


def _run(backends: list[tuple[str, Any]], folder: Path, args: Any, schemas: list[str]) -> None:
    for name, server in backends:
        rates, cpus = [], []
        for round_ in range(args.rounds):
            url, options = _where(name, server, folder, f"t{round_}", schemas)
            rate, cpu = throughput(url, options, args.events)
            rates.append(rate)
            cpus.append(cpu)
        url, options = _where(name, server, folder, "latency", schemas)
        lat = latency(url, options, 100, args.seconds)
        print(
            f"{name}: catch-up {statistics.median(rates):,.0f} events/s "
            f"(= commands issued/s; rounds {min(rates):,.0f}-{max(rates):,.0f}), "
            f"CPU {statistics.median(cpus):.0f} us/event; live at 100/s: "
            f"{len(lat)} events, p50 {percentile(lat, 0.5) * 1e3:.2f} ms, "
            f"p99 {percentile(lat, 0.99) * 1e3:.2f} ms, max {max(lat) * 1e3:.2f} ms"
        )


def _where(
    name: str, server: str | None, folder: Path, tag: str, schemas: list[str]
) -> tuple[str, dict[str, Any]]:
    if name == "sqlite":
        return f"sqlite:///{folder / f'{tag}-{uuid.uuid4().hex[:6]}.db'}", {}
    assert server is not None
    schema = f"bench_reactions_{tag}_{uuid.uuid4().hex[:8]}"
    schemas.append(schema)
    return server, {"schema": schema}


def _drop(server: str, schemas: list[str]) -> None:
    if not schemas:
        return
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
