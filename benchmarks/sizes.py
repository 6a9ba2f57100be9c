"""Workload sizes: full (the published numbers), quick (1/10) and tiny (smoke test)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    name: str
    accounts: int
    """W1: accounts opened (one command, one new stream each)."""
    deposits: int
    """W2 and W3: deposits, one per account (so at most `accounts`)."""
    threads: int
    """W3: concurrent writers."""
    threads_mid: int
    """W3 scaling point between 1 writer (W2) and `threads`."""
    bulk_streams: int
    """W4: streams, each written by one append of `bulk_per_append` events."""
    bulk_per_append: int
    long_stream: int
    """W5: events in the stream that is loaded."""
    snapshot_every: int
    loads: int
    """W5a: loads of the whole stream timed per round."""
    snapshot_loads: int
    """W5b: loads from the snapshot timed per round (each is short: more of them)."""
    log_streams: int
    """W6: the log holds `log_streams` x `log_per_stream` events."""
    log_per_stream: int
    view_batch: int
    """W6: events read and committed per view transaction."""
    writer_seconds: float
    """W8: how long each writer process keeps handling deposits (fixed duration)."""
    writer_accounts: int
    """W8: accounts opened before the clock, split evenly between the writer processes."""
    follow_rate: int
    """W9: events appended per second, one per append, while the follower follows."""
    follow_seconds: float
    """W9: how long the writer appends (so `follow_rate` x this many events per round)."""
    catchup_streams: int
    """W10: the log holds `catchup_streams` accounts x `catchup_per_stream` events."""
    catchup_per_stream: int
    catchup_slow_events: int
    """W10: runners that commit or round-trip per event catch up this many events, not all."""
    catchup_large_streams: int
    """W10L (only with --only): the large log's accounts (x `catchup_per_stream` events)."""
    live_rate: int
    """W11: paced appends per second, from another process."""
    live_seconds: float
    """W11: how long the paced appends last."""
    live_fast_seconds: float
    """W11: how long the appender then appends as fast as it can."""
    live_idle_seconds: float
    """W11: how long the idle live projection's CPU is measured (first round only)."""
    min_round_seconds: float
    """W1-W7: a timed round lasts at least this long (the workload is prepared and run
    again, untimed preparation, until it does): shorter windows are mostly noise."""

    @property
    def log_events(self) -> int:
        return self.log_streams * self.log_per_stream

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes(
    name="full",
    accounts=5_000,
    deposits=5_000,
    threads=16,
    threads_mid=4,
    bulk_streams=1_000,
    bulk_per_append=100,
    long_stream=10_000,
    snapshot_every=100,
    loads=5,
    snapshot_loads=2_000,
    log_streams=1_000,
    log_per_stream=100,
    view_batch=1_000,
    writer_seconds=2.5,
    writer_accounts=400,
    follow_rate=200,
    follow_seconds=3.0,
    catchup_streams=2_000,
    catchup_per_stream=100,
    catchup_slow_events=10_000,
    catchup_large_streams=10_000,
    live_rate=100,
    live_seconds=6.0,
    live_fast_seconds=2.0,
    live_idle_seconds=10.0,
    min_round_seconds=1.0,
)

QUICK = Sizes(
    name="quick",
    accounts=500,
    deposits=500,
    threads=16,
    threads_mid=4,
    bulk_streams=100,
    bulk_per_append=100,
    long_stream=1_000,
    snapshot_every=100,
    loads=5,
    snapshot_loads=500,
    log_streams=100,
    log_per_stream=100,
    view_batch=1_000,
    writer_seconds=1.0,
    writer_accounts=160,
    follow_rate=200,
    follow_seconds=1.0,
    catchup_streams=200,
    catchup_per_stream=100,
    catchup_slow_events=2_000,
    catchup_large_streams=1_000,
    live_rate=100,
    live_seconds=2.0,
    live_fast_seconds=1.0,
    live_idle_seconds=2.0,
    min_round_seconds=0.3,
)

TINY = Sizes(
    name="tiny",
    accounts=100,
    deposits=100,
    threads=8,
    threads_mid=2,
    bulk_streams=20,
    bulk_per_append=100,
    long_stream=500,
    snapshot_every=100,
    loads=2,
    snapshot_loads=20,
    log_streams=20,
    log_per_stream=100,
    view_batch=500,
    writer_seconds=0.5,
    writer_accounts=32,
    follow_rate=100,
    follow_seconds=0.5,
    catchup_streams=20,
    catchup_per_stream=50,
    catchup_slow_events=300,
    catchup_large_streams=40,
    live_rate=100,
    live_seconds=0.5,
    live_fast_seconds=0.3,
    live_idle_seconds=0.3,
    min_round_seconds=0.0,
)
