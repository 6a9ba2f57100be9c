"""The workloads, their units and the targets printed next to the ratios."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A promise: `kind` is "peer" (histoire / eventsourcing), "limit" (histoire / raw),
    "absolute" (histoire's own value at least), "ceiling" (histoire's own value at most)
    or "scaling" (checked in report.py against other workloads)."""

    kind: str
    threshold: float
    text: str


@dataclass(frozen=True)
class Workload:
    id: str
    db: str
    title: str
    unit: str
    targets: tuple[Target, ...] = field(default_factory=tuple)
    lower_is_better: bool = False
    """A latency: its ratios are inverted (eventsourcing / histoire), so that
    above 1 still means histoire is better."""
    default: bool = True
    """Run without --only (the 1,000,000-event catch-up is not)."""


def _wl(id: str, db: str, title: str, unit: str, *targets: Target) -> Workload:
    return Workload(id, db, title, unit, targets)


def _latency(id: str, title: str, db: str = "postgres", *targets: Target) -> Workload:
    return Workload(id, db, title, "ms", targets, lower_is_better=True)


def _lower(id: str, db: str, title: str, unit: str, *, default: bool = True) -> Workload:
    return Workload(id, db, title, unit, (), lower_is_better=True, default=default)


LIMIT_85 = Target("limit", 0.85, "h/raw >= 0.85")
LIMIT_70 = Target("limit", 0.7, "h/raw >= 0.7")
GROUP_3X = Target("limit", 3.0, "h/raw >= 3 (group commit)")
SCALES = Target("scaling", 1.0, "scales with writers")
LIMIT_80 = Target("limit", 0.8, "h/raw >= 0.8")
AHEAD = Target("peer", 1.0, "h/es >= 1")
CPU_FLAT = Target("cpu_scaling", 1.5, "CPU/command <= 1.5x W2's")
"""Issue 11: histoire's CPU per command at 16 threads at most 1.5 times that of 1 thread."""


def _catch_up(prefix: str, db: str, events: str, modes: str, *, default: bool) -> list[Workload]:
    """W10: per mode, events/s, then CPU per event, server CPU (PostgreSQL) and memory."""
    hows = {"a": "a handler call per event", "b": "batch handlers"}
    out = []
    for mode in modes:
        wid = f"{prefix}.{mode}"
        out.append(
            Workload(
                wid,
                db,
                f"catch up {events} into a SQL view, {hows[mode]}",
                "events/s",
                (LIMIT_80,),
                default=default,
            )
        )
        out.append(
            _lower(f"{wid}.cpu", db, "same: CPU per event, this process", "us", default=default)
        )
        if db == "postgres":
            out.append(
                _lower(f"{wid}.srv", db, "same: server CPU per event", "us", default=default)
            )
        out.append(
            _lower(
                f"{wid}.mem", db, "same: peak Python memory (tracemalloc)", "MB", default=default
            )
        )
    return out


def _live(prefix: str, db: str, p50: float, p99: float) -> list[Workload]:
    """W11: latencies at 100/s and flat out, the flat-out rate, the idle CPU."""
    where = "SQLite, across processes" if db == "sqlite" else "PostgreSQL"
    return [
        _latency(
            f"{prefix}.p50",
            f"append to view updated, 100/s, {where}: p50",
            db,
            Target("ceiling", p50, f"<= {p50} ms"),
        ),
        _latency(f"{prefix}.p99", "same: p99", db, Target("ceiling", p99, f"<= {p99} ms")),
        _latency(f"{prefix}.max", "same: max", db),
        _latency(f"{prefix}.fast.p50", "same, one appender flat out: p50", db),
        _latency(f"{prefix}.fast.p99", "same, flat out: p99", db),
        _latency(f"{prefix}.fast.max", "same, flat out: max", db),
        Workload(f"{prefix}.fast.rate", db, "same, flat out: appends kept up with", "events/s"),
        _lower(f"{prefix}.idle", db, "idle live projection: CPU used", "% of a CPU"),
    ]


WORKLOADS: tuple[Workload, ...] = (
    _wl("W1", "sqlite", "open accounts, 1 new stream each", "commands/s", LIMIT_85, AHEAD),
    _wl("W2", "sqlite", "deposits (load, decide, append)", "commands/s", LIMIT_85, AHEAD),
    _wl("W3m", "sqlite", "W2 from a few threads", "commands/s"),
    _wl("W3", "sqlite", "W2 from many threads", "commands/s", GROUP_3X, SCALES, CPU_FLAT, AHEAD),
    _wl(
        "W4",
        "sqlite",
        "bulk append, 100 events/call",
        "events/s",
        Target("peer", 1.2, "h/es >= 1.2"),
        LIMIT_70,
    ),
    _wl(
        "W5a",
        "sqlite",
        "load a long stream",
        "loads/s",
        Target("peer", 8.0, "h/es >= 8"),
        LIMIT_70,
    ),
    _wl("W5b", "sqlite", "same, snapshot every 100", "loads/s", AHEAD),
    _wl(
        "W6a",
        "sqlite",
        "catch up the log into a dict",
        "events/s",
        Target("peer", 3.0, "h/es >= 3"),
        Target("absolute", 200_000, ">= 200,000 ev/s"),
        LIMIT_70,
    ),
    _wl("W6b", "sqlite", "catch up into SQLite view", "events/s", Target("peer", 3.0, "h/es >= 3")),
    _wl(
        "W7.W1",
        "postgres",
        "W1 on PostgreSQL",
        "commands/s",
        Target("peer", 3.0, "h/es >= 3"),
        LIMIT_85,
    ),
    _wl(
        "W7.W2",
        "postgres",
        "W2 on PostgreSQL",
        "commands/s",
        Target("peer", 3.0, "h/es >= 3"),
        LIMIT_85,
    ),
    _wl("W7.W3", "postgres", "W3 on PostgreSQL", "commands/s", SCALES, AHEAD),
    _wl("W7.W6a", "postgres", "W6a on PostgreSQL", "events/s", LIMIT_70, AHEAD),
    _wl("W7.W6b", "postgres", "W6b on PostgreSQL", "events/s", AHEAD),
    _wl("W8.1", "postgres", "deposits, 1 writer process", "commands/s"),
    _wl("W8.4", "postgres", "deposits, 4 writer processes", "commands/s"),
    _wl("W8.16", "postgres", "deposits, 16 writer processes", "commands/s", SCALES),
    _latency("W9.p50", "append to live follower, median"),
    _latency("W9.p99", "append to live follower, p99"),
    _latency("W9.max", "append to live follower, max"),
    *_catch_up("W10", "sqlite", "the log", "ab", default=True),
    *_catch_up("W10.pg", "postgres", "the log", "ab", default=True),
    *_catch_up("W10L", "sqlite", "the large log", "ab", default=False),
    *_catch_up("W10L.pg", "postgres", "the large log", "b", default=False),
    *_live("W11", "sqlite", 2.5, 6.0),
    *_live("W11.pg", "postgres", 2.0, 6.0),
    _wl("W12.off", "sqlite", "W2, the projection process paused", "commands/s"),
    _wl("W12.on", "sqlite", "W2, a live projection in another process", "commands/s"),
    _wl(
        "W12.ratio",
        "sqlite",
        "W12.on / W12.off, per round",
        "ratio",
        Target("absolute", 0.8, ">= 0.8"),
    ),
)

WRITER_PROCESSES = {"W8.1": 1, "W8.4": 4, "W8.16": 16}
"""W8: the number of writer processes of each workload id."""

LATENCIES = {"W9.p50": "p50", "W9.p99": "p99", "W9.max": "max"}
"""W9: the statistic of the per-event latencies that each workload id reports."""

BY_ID = {w.id: w for w in WORKLOADS}


def _starting(prefix: str) -> tuple[str, ...]:
    return tuple(w.id for w in WORKLOADS if w.id.startswith(prefix))


CATCH_UPS = {"W10": ("sqlite", False), "W10.pg": ("postgres", False)}
CATCH_UPS |= {"W10L": ("sqlite", True), "W10L.pg": ("postgres", True)}
"""W10: each id prefix's database, and whether it is the large log."""

GROUPS = {
    "W1": ("W1",),
    "W2": ("W2",),
    "W3": ("W3m", "W3"),
    "W4": ("W4",),
    "W5": ("W5a", "W5b"),
    "W6": ("W6a", "W6b"),
    "W7": ("W7.W1", "W7.W2", "W7.W3", "W7.W6a", "W7.W6b"),
    "W8": tuple(WRITER_PROCESSES),
    "W9": tuple(LATENCIES),
    "W10": _starting("W10."),
    "W10.pg": _starting("W10.pg."),
    "W10L": _starting("W10L."),
    "W10L.pg": _starting("W10L.pg."),
    "W11": _starting("W11."),
    "W11.pg": _starting("W11.pg."),
    "W12": _starting("W12."),
}


def select(only: str | None) -> list[str]:
    """The workload ids named by `--only` (W1..W12, W10L, or exact ids such as W5a, W7.W2)."""
    if not only:
        return [w.id for w in WORKLOADS if w.default]
    chosen: set[str] = set()
    for item in only.split(","):
        name = item.strip()
        if not name:
            continue
        key = name.upper() if name.upper() in GROUPS else name
        if key in GROUPS:
            chosen.update(GROUPS[key])
        elif name in BY_ID:
            chosen.add(name)
        else:
            known = ", ".join([*GROUPS, *(w.id for w in WORKLOADS if w.id not in GROUPS)])
            raise ValueError(f"unknown workload {name!r}; known: {known}")
    return [w.id for w in WORKLOADS if w.id in chosen]
