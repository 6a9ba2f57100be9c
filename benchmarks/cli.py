"""Command line of the benchmark suite: `python -m benchmarks --help`."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV, filesystem_of
from benchmarks.sizes import FULL, QUICK, TINY

NEEDED = {
    "histoire": "pip install -e .",
    "eventsourcing": "pip install -e '.[bench]'   (eventsourcing==9.5.6, the peer)",
    "rich": "pip install -e .",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark histoire against the eventsourcing library and the raw "
            "sqlite3/psycopg limit, on this machine. See docs/benchmarks.md."
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="1/10 sizes and 1 round by default (well under a minute)",
    )
    size.add_argument(
        "--tiny",
        action="store_true",
        help="smallest sizes, 1 round: checks that the suite runs (smoke test)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds per workload (default 3; 1 with --quick/--tiny)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated workloads: W1..W12, W10L (not run by default), or ids such "
        "as W5a, W7.W2, W10.pg.b",
    )
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="URL",
        help=f"PostgreSQL for W7-W11 (default ${POSTGRES_URL_ENV} or {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip W7-W9 and the PostgreSQL parts of W10, W11"
    )
    parser.add_argument(
        "--out",
        default="benchmarks/results",
        type=Path,
        help="output folder for results.json and ratios.png (default %(default)s)",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        type=Path,
        help="where the databases are written (default: a temporary folder "
        "inside --out; it must be on a real disk for fsync to count)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of comparing, profile histoire (cProfile) on the selected "
        "workloads and write profile-<id>.txt into --out",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be >= 1")
    return args


def _missing() -> list[str]:
    return [
        f"  {name}: {how}" for name, how in NEEDED.items() if importlib.util.find_spec(name) is None
    ]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(workdir: Path) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "sqlite": sqlite3.sqlite_version,
        "histoire": _version("histoire"),
        "eventsourcing": _version("eventsourcing"),
        "msgspec": _version("msgspec"),
        "psycopg": _version("psycopg"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "workdir_filesystem": filesystem_of(workdir),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks.workloads import WORKLOADS, select

    if args.list:
        for w in WORKLOADS:
            extra = "" if w.default else "   (only with --only)"
            print(f"{w.id:14} {w.db:9} {w.unit:11} {w.title}{extra}")
        return 0
    missing = _missing()
    if missing:
        print(
            "The benchmark suite needs packages that are not installed (it installs nothing "
            "itself):\n" + "\n".join(missing),
            file=sys.stderr,
        )
        return 2
    try:
        selected = select(args.only)
    except ValueError as exc:
        print(f"--only: {exc}", file=sys.stderr)
        return 2

    from rich.console import Console

    from benchmarks import report
    from benchmarks.base import System
    from benchmarks.probes import tag_connections
    from benchmarks.runner import Runner
    from benchmarks.systems_eventsourcing import EventsourcingSystem
    from benchmarks.systems_histoire import HistoireSystem
    from benchmarks.systems_raw import RawPostgres, RawSQLite

    tag_connections()  # the server CPU of W10 is that of the backends with this run's name
    console = Console()
    if not console.is_terminal:  # a log file or a pipe: do not squeeze the table into 80 columns
        console = Console(width=150)
    sizes = TINY if args.tiny else QUICK if args.quick else FULL
    rounds = args.rounds or (1 if (args.quick or args.tiny) else 3)
    postgres_url = (
        None
        if args.no_postgres
        else (args.postgres or os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="work-", dir=out)) if own_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    env = environment(workdir)
    if env["workdir_filesystem"] in ("tmpfs", "ramfs"):
        console.print(
            f"[yellow]warning: {workdir} is on {env['workdir_filesystem']}: fsync is "
            "free there, so durable commits look faster than on a disk[/yellow]"
        )

    def make_systems(kind: str) -> list[System]:
        url = postgres_url if kind == "postgres" else None
        raw: type[System] = RawPostgres if kind == "postgres" else RawSQLite
        return [
            cls(kind, workdir, sizes, url) for cls in (HistoireSystem, EventsourcingSystem, raw)
        ]

    try:
        if args.profile:
            from benchmarks.profiling import profile

            return profile(selected, sizes, workdir, out, console, postgres_url)
        console.print(
            f"[bold]histoire benchmarks[/bold]: sizes {sizes.name}, {rounds} round(s), "
            f"workloads {', '.join(selected)}; databases in {workdir} ({env['workdir_filesystem']})"
        )
        started = time.time()
        runner = Runner(
            sizes=sizes,
            rounds=rounds,
            selected=selected,
            workdir=workdir,
            console=console,
            postgres_url=postgres_url,
        )
        runner.run(make_systems)
        finished = time.time()
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = report.evaluate(runner.values, runner.cpu, runner.server_cpu)
    title = (
        f"histoire benchmarks ({sizes.name} sizes, {rounds} round(s), "
        f"{env['cpus']} CPUs, Python {env['python']}, SQLite {env['sqlite']})"
    )
    report.render_table(rows, console, title)
    met, checked = report.all_met(rows)
    env["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {
        "suite": "histoire benchmarks",
        "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
        "duration_s": round(finished - started, 1),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "sizes": sizes.as_dict(),
        "rounds": rounds,
        "order": "per workload: histoire round, eventsourcing round, raw round, repeat "
        "(W8: per round and writer count, histoire then eventsourcing; W8 and W9 have no raw)",
        "environment": env,
        "durability": runner.durability,
        "skipped": runner.skipped,
        "errors": runner.errors,
        "details": runner.details,
        "targets_met": met,
        "targets_checked": checked,
        "results": rows,
    }
    json_path = out / "results.json"
    report.write_json(result, json_path)
    report.write_markdown(rows, out / "results.md", title)
    png_path = out / "ratios.png"
    if not report.write_chart(rows, png_path, title):
        console.print(
            "[yellow]matplotlib is not installed: no chart (pip install -e '.[bench]')[/yellow]"
        )
        png_path = None  # type: ignore[assignment]
    for wid, reason in sorted(runner.skipped.items()):
        console.print(f"[yellow]skipped {wid}: {reason}[/yellow]")
    console.print(f"targets met: {met}/{checked}; took {finished - started:.0f} s")
    console.print(
        f"wrote {json_path}, {out / 'results.md'}" + (f" and {png_path}" if png_path else "")
    )
    if runner.errors:
        console.print(
            f"[red]{len(runner.errors)} workload run(s) failed; see 'errors' in {json_path}[/red]"
        )
        return 1
    return 0
