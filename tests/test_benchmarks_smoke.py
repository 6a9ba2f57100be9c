"""The benchmark suite runs and writes its outputs (no timing is checked: benchmarks
never fail CI for being slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str) -> str:
    """`python -m <args>` from the checkout; its standard output, once it exited 0."""
    completed = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return completed.stdout


@pytest.mark.slow
def test_the_benchmark_suite_runs_and_writes_json_and_png(tmp_path: Path) -> None:
    """`python -m benchmarks --tiny` runs every default SQLite workload, writes JSON and PNG."""
    for module in ("eventsourcing", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[bench]')")
    run_module("benchmarks", "--tiny", "--no-postgres", "--out", str(tmp_path))
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["errors"] == []
    measured = {row["id"] for row in report["results"]}
    assert {"W1", "W2", "W3", "W4", "W5a", "W5b", "W6a", "W6b"} <= measured
    assert {
        "W10.a",
        "W10.b",
        "W10.a.mem",
        "W11.p50",
        "W11.idle",
        "W12.off",
        "W12.on",
        "W12.ratio",
    } <= measured
    for row in report["results"]:
        assert row["systems"]["histoire"]["median"] > 0
    cpu = {row["id"]: row["cpu_us_per_op"] for row in report["results"]}
    for wid in ("W1", "W2", "W3", "W4", "W5a", "W6a"):
        assert sorted(cpu[wid]) == ["eventsourcing", "histoire", "raw"], wid
        assert all(value > 0 for value in cpu[wid].values()), (wid, cpu[wid])
    assert (tmp_path / "ratios.png").stat().st_size > 0
    assert not list(tmp_path.glob("work-*")), "the databases were not cleaned up"


@pytest.mark.slow
def test_the_asyncio_benchmark_runs_every_system(tmp_path: Path) -> None:
    """`python -m benchmarks.asyncio_edge --tiny` measures the blocking edge, the async edge
    and eventsource-py on every workload, and writes them as JSON."""
    if importlib.util.find_spec("eventsource") is None:
        pytest.skip("eventsource-py is not installed (pip install -e '.[bench]')")
    out = tmp_path / "asyncio.json"
    run_module(
        *("benchmarks.asyncio_edge", "--tiny", "--rounds", "1"),
        *("--db", "sqlite", "--out", str(out)),
    )
    results = json.loads(out.read_text())["results"]["sqlite"]
    assert set(results) == {"W1", "W2", "W3", "W5", "W6"}
    for by_system in results.values():
        assert set(by_system) == {"sync", "async", "eventsource-py"}
        assert all(runs and runs[0][0] > 0 for runs in by_system.values())


@pytest.mark.slow
def test_the_drivers_floor_of_w1_runs_on_both_databases(tmp_path: Path) -> None:
    """`python -m benchmarks.asyncio_floor` measures raw psycopg (asyncio and blocking) and
    raw sqlite3 doing W1's statements, and prints a median rate for each."""
    from tests._services import postgres_url_or_skip

    url = postgres_url_or_skip()
    stdout = run_module(
        *("benchmarks.asyncio_floor", "--rounds", "1", "--n", "20"),
        *("--postgres-url", url, "--dir", str(tmp_path)),
    )
    medians = [line for line in stdout.splitlines() if "median" in line]
    assert [line.split()[0] for line in medians] == ["sqlite", "postgres", "postgres"]
    assert all(float(line.split()[-4].rstrip("/s").replace(",", "")) > 0 for line in medians)
    assert not list(tmp_path.iterdir()), "the SQLite file's folder is removed"
