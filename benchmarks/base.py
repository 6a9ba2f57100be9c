"""What every system under test provides, and the clean-up they share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from benchmarks.catchup import CatchUp
from benchmarks.common import Prepared, pg_drop_schemas, random_schema, remove_sqlite
from benchmarks.live import LiveSide
from benchmarks.pg_follow import Latencies
from benchmarks.sizes import Sizes


class System:
    """One way of doing the workloads (histoire, eventsourcing, raw) on one database kind.

    Each `wN` method prepares its workload outside the clock and returns a
    callable that does the timed work. Things made for one measurement are
    released by `cleanup()`; W5 and W6 data, prepared once, by `close()`.
    """

    name = "?"

    def __init__(self, kind: str, workdir: Path, sizes: Sizes, pg_url: str | None = None) -> None:
        if kind not in ("sqlite", "postgres"):
            raise ValueError(kind)
        self.kind = kind
        self.workdir = workdir
        self.sizes = sizes
        self.pg_url = pg_url
        self._short: list[Callable[[], None]] = []
        self._long: list[Callable[[], None]] = []
        self._counter = 0

    # -- resources --------------------------------------------------------

    def _label(self, what: str) -> str:
        self._counter += 1
        return f"{self.name}-{what}-{self._counter}"

    def new_sqlite_path(self, what: str, *, long: bool = False) -> Path:
        path = self.workdir / f"{self._label(what)}.db"
        remove_sqlite(path)
        self.on_cleanup(lambda: remove_sqlite(path), long=long)
        return path

    def new_pg_schema(self, what: str, *, long: bool = False) -> str:
        assert self.pg_url is not None
        schema = random_schema(f"bench_{self.name[:4]}_{what}")
        url = self.pg_url
        self.on_cleanup(lambda: pg_drop_schemas(url, [schema]), long=long)
        return schema

    def on_cleanup(self, action: Callable[[], None], *, long: bool = False) -> None:
        """Run `action` at cleanup() (or close() if `long`), latest registered first."""
        (self._long if long else self._short).append(action)

    @staticmethod
    def _run_all(actions: list[Callable[[], None]]) -> None:
        while actions:
            action = actions.pop()
            with contextlib.suppress(Exception):
                action()

    def cleanup(self) -> None:
        self._run_all(self._short)

    def close(self) -> None:
        self.cleanup()
        self._run_all(self._long)

    # -- facts for the report ----------------------------------------------

    def durability(self) -> dict[str, object]:
        return {}

    # -- workloads ----------------------------------------------------------

    def chain_start(self) -> None:
        """A fresh, empty database for W1 -> W2 -> W3 (W2 and W3 use W1's accounts)."""
        raise NotImplementedError

    def w1_open_accounts(self, n: int) -> Prepared:
        raise NotImplementedError

    def w2_deposits(self, n: int) -> Prepared:
        raise NotImplementedError

    def w3_deposits_threads(self, n: int, threads: int) -> Prepared:
        raise NotImplementedError

    def w4_bulk_append(self, streams: int, per_append: int) -> Prepared:
        raise NotImplementedError

    def w5_prepare(self, events: int, snapshot_every: int) -> None:
        raise NotImplementedError

    def w5_load(self, loads: int, *, snapshots: bool) -> Prepared:
        raise NotImplementedError

    def w6_prepare(self, streams: int, per_stream: int) -> None:
        raise NotImplementedError

    def w6_memory(self, batch: int) -> Prepared:
        raise NotImplementedError

    def w6_table(self, batch: int) -> Prepared:
        raise NotImplementedError

    def w8_writer_processes(self, processes: int, seconds: float, accounts: int) -> Prepared:
        """PostgreSQL only: `processes` writer processes set up and waiting; run() starts them."""
        raise NotImplementedError

    def w9_follow(self, rate: float, seconds: float) -> Latencies:
        """PostgreSQL only: append at `rate` for `seconds` while a follower follows live."""
        raise NotImplementedError

    # -- projections (W10-W12; see catchup.py, live.py and projections_*.py) ---------------

    def w10_prepare(self, streams: int, per_stream: int) -> None:
        """The log to catch up: `streams` accounts opened, then deposits (kept until close)."""
        raise NotImplementedError

    def w10_catch_up(self, mode: str, budget: int | None) -> CatchUp:
        """A balances view of the log, fresh, and the runner that will catch it up."""
        raise NotImplementedError

    def w11_side(self) -> LiveSide:
        """A fresh store with a live projection to start, and its appender to spawn."""
        raise NotImplementedError
