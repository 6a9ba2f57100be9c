"""The outputs: a Rich table, a JSON file and a PNG chart of the ratios."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.runner import SYSTEM_NAMES, summary
from benchmarks.workloads import BY_ID, WORKLOADS, Target

SCALING_SERIES = {
    "W3": ("W2", "W3m", "W3"),
    "W7.W3": ("W7.W2", "W7.W3"),
    "W8.16": ("W8.1", "W8.4", "W8.16"),
}


def _better_ratio(h: float | None, other: float | None, lower_is_better: bool) -> float | None:
    """How many times better histoire is: h/other for throughputs, other/h for latencies."""
    if not h or not other:
        return None
    return other / h if lower_is_better else h / other


def _median(summaries: dict[str, Any], system: str) -> float | None:
    entry = summaries.get(system)
    return None if entry is None else float(entry["median"])


def _cpu_medians(
    series: dict[str, dict[str, list[float]]] | None,
) -> dict[str, dict[str, float]]:
    """Per workload and system, the median of the per-round CPU us/op."""
    out: dict[str, dict[str, float]] = {}
    for wid, per in (series or {}).items():
        out[wid] = {name: summary(v)["median"] for name, v in per.items() if v}  # type: ignore[index]
    return out


def evaluate(
    values: dict[str, dict[str, list[float]]],
    cpu: dict[str, dict[str, list[float]]] | None = None,
    server_cpu: dict[str, dict[str, list[float]]] | None = None,
) -> list[dict[str, Any]]:
    """Per workload: summaries per system, ratios, CPU per operation (this process, and
    the PostgreSQL server's where it was measured), and targets met or missed."""
    rows: list[dict[str, Any]] = []
    medians = {
        wid: {s: summary(v)["median"] if v else None for s, v in per.items()}  # type: ignore[index]
        for wid, per in values.items()
    }
    cpus = _cpu_medians(cpu)
    servers = _cpu_medians(server_cpu)
    for workload in WORKLOADS:
        if workload.id not in values:
            continue
        per = values[workload.id]
        summaries = {s: summary(per.get(s, [])) for s in SYSTEM_NAMES}
        h = _median(summaries, "histoire")
        peer = _median(summaries, "eventsourcing")
        raw = _median(summaries, "raw")
        lower = workload.lower_is_better
        ratio_peer = _better_ratio(h, peer, lower)
        ratio_limit = _better_ratio(h, raw, lower)
        targets = []
        for target in workload.targets:
            if target.kind == "cpu_scaling":
                targets.append(_check_cpu_scaling(target, workload.id, cpus))
                continue
            targets.append(_check(target, workload.id, h, ratio_peer, ratio_limit, medians))
        rows.append(
            {
                "id": workload.id,
                "db": workload.db,
                "title": workload.title,
                "unit": workload.unit,
                "better": "lower" if lower else "higher",
                "ratios": "eventsourcing / histoire, raw / histoire"
                if lower
                else "histoire / eventsourcing, histoire / raw",
                "systems": summaries,
                "ratio_vs_eventsourcing": ratio_peer,
                "ratio_vs_limit": ratio_limit,
                "cpu_us_per_op": cpus.get(workload.id, {}),
                "server_cpu_us_per_op": servers.get(workload.id, {}),
                "targets": targets,
            }
        )
    return rows


CPU_BASE = {"W3": "W2", "W3m": "W2", "W7.W3": "W7.W2"}
"""The single-writer workload whose CPU per command a threaded one is compared with."""


def _check_cpu_scaling(
    target: Target, wid: str, cpus: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """histoire's CPU per command with many writers over that with one (W2), at most."""
    out: dict[str, Any] = {"text": target.text, "kind": target.kind, "threshold": target.threshold}
    base = cpus.get(CPU_BASE[wid], {}).get("histoire")
    many = cpus.get(wid, {}).get("histoire")
    if not base or many is None:
        out.update(value=None, met=None, detail=f"needs the CPU of {CPU_BASE[wid]} and {wid}")
        return out
    out.update(value=many / base, met=many / base <= target.threshold)
    return out


def _check(
    target: Target,
    wid: str,
    h: float | None,
    ratio_peer: float | None,
    ratio_limit: float | None,
    medians: dict[str, dict[str, float | None]],
) -> dict[str, Any]:
    out: dict[str, Any] = {"text": target.text, "kind": target.kind, "threshold": target.threshold}
    value: float | None
    if target.kind == "peer":
        value = ratio_peer
    elif target.kind == "limit":
        value = ratio_limit
    elif target.kind == "absolute":
        value = h
    elif target.kind == "ceiling":
        out.update(value=h, met=None if h is None else h <= target.threshold)
        return out
    else:  # scaling: histoire's medians from 1 writer (W2) up to all writers
        series = [medians.get(w, {}).get("histoire") for w in SCALING_SERIES[wid]]
        if any(v is None for v in series):
            out.update(value=None, met=None, detail="needs " + ", ".join(SCALING_SERIES[wid]))
            return out
        points = [float(v) for v in series]  # type: ignore[arg-type]
        value = points[-1] / points[0]
        out["series"] = dict(zip(SCALING_SERIES[wid], points, strict=True))
        out.update(value=value, met=all(b > a for a, b in pairwise(points)))
        return out
    out.update(value=value, met=None if value is None else value >= target.threshold)
    return out


# -- rendering -------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "-"
    spread = f"{_fmt(entry['min'])}-{_fmt(entry['max'])}"
    if "q1" in entry:
        spread = f"IQR {_fmt(entry['q1'])}-{_fmt(entry['q3'])}"
    if len(entry["values"]) == 1:
        return _fmt(entry["median"])
    return f"{_fmt(entry['median'])}\n[dim]{spread}[/dim]"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _target_text(target: dict[str, Any]) -> str:
    met = target["met"]
    marks = {None: "[dim]n/a[/dim]", True: "[green]met[/green]", False: "[red]missed[/red]"}
    mark = marks[met]
    if target["kind"] == "scaling":
        series = target.get("series")
        got = " -> ".join(_fmt(v) for v in series.values()) if series else target.get("detail", "")
    elif target["kind"] in ("absolute", "ceiling"):
        got = _fmt(target["value"])
    else:
        got = _ratio(target["value"])
    return f"{target['text']}: {got} {mark}"


def _cpu_cell(row: dict[str, Any], key: str = "cpu_us_per_op") -> str:
    """CPU us/op of histoire / eventsourcing / raw ("-" where not measured)."""
    per = row.get(key) or {}
    if not per:
        return "-"
    return " / ".join(_fmt(per.get(name)) for name in SYSTEM_NAMES)


def render_table(rows: list[dict[str, Any]], console: Console, title: str) -> None:
    table = Table(title=title, show_lines=True)
    table.add_column("workload", no_wrap=True)
    table.add_column("histoire", justify="right", no_wrap=True)
    table.add_column("eventsourcing", justify="right", no_wrap=True)
    table.add_column("raw limit", justify="right", no_wrap=True)
    table.add_column("h/es", justify="right", no_wrap=True)
    table.add_column("h/raw", justify="right", no_wrap=True)
    table.add_column("CPU us/op\nh / es / raw", justify="right", no_wrap=True)
    table.add_column("targets")
    for row in rows:
        systems = row["systems"]
        note = "\n[dim]lower is better; ratio es/h[/dim]" if row["better"] == "lower" else ""
        table.add_row(
            f"[bold]{row['id']}[/bold] [dim]{row['unit']}[/dim]\n[dim]{row['title']}[/dim]{note}",
            _cell(systems["histoire"]),
            _cell(systems["eventsourcing"]),
            _cell(systems["raw"]),
            _ratio(row["ratio_vs_eventsourcing"]),
            _ratio(row["ratio_vs_limit"]),
            _cpu_cell(row)
            + (
                f"\n[dim]server {_cpu_cell(row, 'server_cpu_us_per_op')}[/dim]"
                if row.get("server_cpu_us_per_op")
                else ""
            ),
            "\n".join(_target_text(t) for t in row["targets"]) or "[dim]-[/dim]",
        )
    console.print(table)
    console.print(
        "[dim]median of the rounds, and below it min-max (IQR from 4 rounds); h/es = histoire / "
        "eventsourcing, h/raw = histoire / raw limit (throughput ratios, higher is better); for "
        "latencies (ms, lower is better) the ratio is inverted, es/h: above 1, histoire is "
        "better[/dim]"
    )


def _plain_target(target: dict[str, Any]) -> str:
    met = {None: "n/a", True: "met", False: "**missed**"}[target["met"]]
    if target["kind"] == "scaling":
        series = target.get("series")
        got = " -> ".join(_fmt(v) for v in series.values()) if series else "-"
    elif target["kind"] in ("absolute", "ceiling"):
        got = _fmt(target["value"])
    else:
        got = _ratio(target["value"])
    return f"{target['text']}: {got} {met}"


def write_markdown(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """The table as Markdown, to paste into docs/benchmarks.md."""

    def cell(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "-"
        if len(entry["values"]) == 1:
            return _fmt(entry["median"])
        return f"{_fmt(entry['median'])} ({_fmt(entry['min'])}-{_fmt(entry['max'])})"

    lines = [
        f"{title}; median (min-max) of the rounds. Ratios above 1: histoire is better "
        "(for latencies in ms, lower is better and the ratios are es/h and raw/h).",
        "",
        "| workload | unit | histoire | eventsourcing | raw limit | h/es | h/raw "
        "| CPU us/op h / es / raw | server CPU us/op h / es / raw | targets |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        systems = row["systems"]
        targets = "; ".join(_plain_target(t) for t in row["targets"]) or "-"
        lower = row["better"] == "lower"
        unit = row["unit"] + (" (lower is better; ratios es/h, raw/h)" if lower else "")
        lines.append(
            f"| {row['id']} {row['title']} | {unit} | {cell(systems['histoire'])} | "
            f"{cell(systems['eventsourcing'])} | {cell(systems['raw'])} | "
            f"{_ratio(row['ratio_vs_eventsourcing'])} | {_ratio(row['ratio_vs_limit'])} | "
            f"{_cpu_cell(row)} | {_cpu_cell(row, 'server_cpu_us_per_op')} | {targets} |"
        )
    path.write_text("\n".join(lines) + "\n")


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def write_chart(rows: list[dict[str, Any]], path: Path, title: str) -> bool:
    """A PNG with two panels: histoire / eventsourcing and histoire / raw limit."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        return False
    panels = [
        ("ratio_vs_eventsourcing", "peer", "histoire / eventsourcing (higher is better)", True),
        ("ratio_vs_limit", "limit", "histoire / raw limit (1 = the limit)", False),
    ]
    ids = [row["id"] + (" (es/h)" if row["better"] == "lower" else "") for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, max(3.0, 0.45 * len(ids) + 1.5)), sharey=True)
    for ax, (key, kind, label, log) in zip(axes, panels, strict=True):
        values = [row[key] or 0.0 for row in rows]
        colours = []
        for row in rows:
            checks = [t for t in row["targets"] if t["kind"] == kind]
            if not checks or row[key] is None:
                colours.append("#9aa5b1")
            elif all(t["met"] for t in checks):
                colours.append("#2e8b57")
            else:
                colours.append("#c0392b")
        positions = list(range(len(ids)))
        ax.barh(positions, values, color=colours)
        for pos, row in zip(positions, rows, strict=True):
            for target in row["targets"]:
                if target["kind"] == kind:
                    ax.plot([target["threshold"]] * 2, [pos - 0.4, pos + 0.4], color="black", lw=2)
            if row[key]:
                ax.annotate(
                    f"{row[key]:.2f}x",
                    (row[key], pos),
                    xytext=(3, -3),
                    textcoords="offset points",
                    fontsize=8,
                )
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        if log and any(v > 0 for v in values):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}x"))
        ax.set_title(label, fontsize=10)
        ax.set_yticks(positions, ids)
    axes[0].invert_yaxis()  # shared y axis: first workload on top
    fig.suptitle(
        title + "\n(black tick: target; green: met; red: missed; grey: no target)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def all_met(rows: list[dict[str, Any]]) -> tuple[int, int]:
    checks = [t for row in rows for t in row["targets"] if t["met"] is not None]
    return sum(1 for t in checks if t["met"]), len(checks)


__all__ = ["BY_ID", "all_met", "evaluate", "render_table", "write_chart", "write_json"]
