"""The workloads, their units and the targets printed next to the ratios."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A promise: `kind` is "peer" (histoire / eventsourcing), "limit" (histoire / raw),
    "absolute" (histoire's own throughput) or "scaling" (checked in report.py)."""

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


def _wl(id: str, db: str, title: str, unit: str, *targets: Target) -> Workload:
    return Workload(id, db, title, unit, targets)


def _latency(id: str, title: str) -> Workload:
    return Workload(id, "postgres", title, "ms", (), lower_is_better=True)


LIMIT_85 = Target("limit", 0.85, "h/raw >= 0.85")
GROUP_3X = Target("limit", 3.0, "h/raw >= 3 (group commit)")
SCALES = Target("scaling", 1.0, "scales with writers")

WORKLOADS: tuple[Workload, ...] = (
    _wl("W1", "sqlite", "open accounts, 1 new stream each", "commands/s", LIMIT_85),
    _wl("W2", "sqlite", "deposits (load, decide, append)", "commands/s", LIMIT_85),
    _wl("W3m", "sqlite", "W2 from a few threads", "commands/s"),
    _wl("W3", "sqlite", "W2 from many threads", "commands/s", GROUP_3X, SCALES),
    _wl(
        "W4",
        "sqlite",
        "bulk append, 100 events/call",
        "events/s",
        Target("limit", 0.5, "h/raw >= 0.5"),
    ),
    _wl("W5a", "sqlite", "load a long stream", "loads/s", Target("peer", 8.0, "h/es >= 8")),
    _wl("W5b", "sqlite", "same, snapshot every 100", "loads/s"),
    _wl(
        "W6a",
        "sqlite",
        "catch up the log into a dict",
        "events/s",
        Target("peer", 3.0, "h/es >= 3"),
        Target("absolute", 200_000, ">= 200,000 ev/s"),
    ),
    _wl("W6b", "sqlite", "catch up into SQLite view", "events/s", Target("peer", 3.0, "h/es >= 3")),
    _wl(
        "W7.W1",
        "postgres",
        "W1 on PostgreSQL",
        "commands/s",
        Target("peer", 3.0, "h/es >= 3"),
        Target("limit", 0.7, "h/raw >= 0.7"),
    ),
    _wl(
        "W7.W2",
        "postgres",
        "W2 on PostgreSQL",
        "commands/s",
        Target("peer", 3.0, "h/es >= 3"),
        Target("limit", 0.7, "h/raw >= 0.7"),
    ),
    _wl("W7.W3", "postgres", "W3 on PostgreSQL", "commands/s", SCALES),
    _wl("W7.W6a", "postgres", "W6a on PostgreSQL", "events/s"),
    _wl("W7.W6b", "postgres", "W6b on PostgreSQL", "events/s"),
    _wl("W8.1", "postgres", "deposits, 1 writer process", "commands/s"),
    _wl("W8.4", "postgres", "deposits, 4 writer processes", "commands/s"),
    _wl("W8.16", "postgres", "deposits, 16 writer processes", "commands/s", SCALES),
    _latency("W9.p50", "append to live follower, median"),
    _latency("W9.p99", "append to live follower, p99"),
    _latency("W9.max", "append to live follower, max"),
)

WRITER_PROCESSES = {"W8.1": 1, "W8.4": 4, "W8.16": 16}
"""W8: the number of writer processes of each workload id."""

LATENCIES = {"W9.p50": "p50", "W9.p99": "p99", "W9.max": "max"}
"""W9: the statistic of the per-event latencies that each workload id reports."""

BY_ID = {w.id: w for w in WORKLOADS}

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
}


def select(only: str | None) -> list[str]:
    """The workload ids named by `--only` (W1..W9, or exact ids such as W5a, W7.W2, W8.16)."""
    if not only:
        return [w.id for w in WORKLOADS]
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
