"""What a catch-up costs besides time: CPU of this process, of the PostgreSQL server, memory.

- CPU: `time.process_time()` (every thread of this process: a peer's runner
  threads count too).
- Server CPU (PostgreSQL): the user + system time of the server processes
  that serve this process's connections, read from `/proc/<pid>/stat`. Every
  connection the suite opens carries `application_name` = `APP_NAME` (set
  through `PGAPPNAME` by `tag_connections()`, which libpq reads), so that the
  backends are found in `pg_stat_activity`. It needs the server on this
  machine (same /proc); otherwise it is None.
- Memory: the peak resident set size (VmHWM) during the run, minus the RSS at
  its start. The peak is reset at the start by writing 5 to
  `/proc/self/clear_refs` (Linux); where that is refused, None.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

APP_NAME = f"histoire-bench-{os.getpid()}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tag_connections() -> None:
    """Give every libpq connection opened from now on (children too) this run's name."""
    os.environ["PGAPPNAME"] = APP_NAME


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far, or None if /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


class ServerCpu:
    """CPU seconds used by the PostgreSQL backends serving this process's connections."""

    def __init__(self, url: str) -> None:
        import psycopg

        # Its own backend does not count: it only asks.
        self.conn = psycopg.connect(url, autocommit=True, application_name="histoire-bench-probe")

    def sample(self) -> dict[int, float] | None:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)
        ).fetchall()
        out = {}
        for (pid,) in rows:
            seconds = process_cpu_seconds(pid)
            if seconds is None:
                return None
            out[pid] = seconds
        return out

    @staticmethod
    def used(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        """CPU seconds between two samples (a backend that started meanwhile counts from 0)."""
        if before is None or after is None:
            return None
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

    def close(self) -> None:
        self.conn.close()


@dataclass
class Usage:
    """What one timed run used."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    server_cpu_seconds: float | None = None
    peak_rss_growth: int | None = None
    """Bytes."""


class Probe:
    """Started by the system when its timed work starts, stopped when the work is done."""

    def __init__(self, server: ServerCpu | None = None) -> None:
        self.server = server
        self.usage = Usage()
        self._started: tuple[float, float, Any, int | None] | None = None

    def start(self) -> None:
        rss = _status_kb("VmRSS") if _reset_peak_rss() else None
        server = self.server.sample() if self.server is not None else None
        self._started = (time.perf_counter(), time.process_time(), server, rss)

    def stop(self) -> Usage:
        wall, cpu = time.perf_counter(), time.process_time()
        if self._started is None:
            raise RuntimeError("Probe.stop() before start()")
        wall0, cpu0, server0, rss0 = self._started
        peak = _status_kb("VmHWM")
        self.usage = Usage(
            seconds=wall - wall0,
            cpu_seconds=cpu - cpu0,
            server_cpu_seconds=(
                ServerCpu.used(server0, self.server.sample()) if self.server is not None else None
            ),
            peak_rss_growth=None if rss0 is None or peak is None else (peak - rss0) * 1024,
        )
        return self.usage
