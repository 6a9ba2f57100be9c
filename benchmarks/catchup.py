"""W10: what the three systems share to catch a projection up into a SQL view.

The log holds `streams` x `per_stream` bank events (each account opened, then
deposits of 100 cents); the view is a balances table in the SAME database as
the events (SQLite file or PostgreSQL schema), one UPSERT per event, and the
checkpoint commits in the same transaction as the rows (exactly once).

A catch-up is prepared (untimed: a fresh view, its runner), then run: the
system calls `probe.start()` when its work starts and `probe.stop()` once the
last event's row is committed, and returns the number of events applied.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.probes import Probe

CatchUp = Callable[[Probe], int]
"""A prepared catch-up: runs it, between probe.start() and probe.stop(); events applied."""

BATCH = 1_000
"""Events per transaction (histoire's and the raw limit's; eventsourcing commits per event)."""

EVENT = "event"
"""Mode: a handler call per event (histoire `@on` + ctx.execute; eventsourcing's runner)."""
BATCHED = "batch"
"""Mode: a handler call per run of events (histoire `@on_batch` + ctx.executemany)."""


class NotSupported(Exception):
    """The system has no way to do this (said in the report, not counted as a failure)."""


def create_balances(table: str, *, if_not_exists: bool = False) -> str:
    maybe = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {maybe}{table} (account TEXT PRIMARY KEY, balance_cents BIGINT NOT NULL)"


def upsert_balance(table: str, mark: str) -> str:
    """One event's UPSERT (`mark`: "?" for SQLite, "%s" for psycopg)."""
    return (
        f"INSERT INTO {table} AS b (account, balance_cents) VALUES ({mark}, {mark}) "
        "ON CONFLICT (account) DO UPDATE "
        "SET balance_cents = b.balance_cents + excluded.balance_cents"
    )


def expected_total(events: int, streams: int, amount_cents: int) -> int:
    """The sum of all balances once `events` (every stream's opening included) are applied."""
    return (events - streams) * amount_cents


def check_view(count: int, total: int | None, streams: int, expected: int) -> None:
    """A full catch-up must leave one row per account and the right sum."""
    if count != streams or (total is not None and total != expected):
        raise AssertionError(
            f"view: {count} accounts, total {total}; expected {streams}, {expected}"
        )
