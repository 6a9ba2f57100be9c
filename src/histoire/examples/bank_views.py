"""The bank's views, as projection definitions: balances, and the audit trail.

`balances` keeps one JSON document per account (portable: it runs unchanged
on SQLite, PostgreSQL and the memory store). `audit_trail` writes plain SQL:
every movement of every account, with who asked, from where, when, and what
caused it, one row per event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from histoire.app.projections import Projection, ProjectionContext
from histoire.examples.bank import (
    AccountClosed,
    AccountClosureRefused,
    AccountOpened,
    Deposited,
    WithdrawalRefused,
    Withdrawn,
)

CATEGORY = "account"
"""The bank's streams: `account-<id>`."""

balances = Projection("balances", categories=[CATEGORY])
"""One document per account: owner, currency, balance, open or closed."""


@balances.on(AccountOpened)
def _opened(event: AccountOpened, ctx: ProjectionContext) -> None:
    ctx.documents("accounts").put(
        ctx.record.stream_id,
        {"owner": event.owner, "currency": event.currency, "balance_cents": 0, "open": True},
    )


@balances.on(Deposited, Withdrawn)
def _moved(event: Deposited | Withdrawn, ctx: ProjectionContext) -> None:
    accounts = ctx.documents("accounts")
    account = accounts.get(ctx.record.stream_id)
    if account is None:  # pragma: no cover - the decider opens accounts first
        raise LookupError(f"{ctx.record.stream_id} moved money before it was opened")
    sign = 1 if isinstance(event, Deposited) else -1
    account["balance_cents"] += sign * event.amount_cents
    accounts.put(ctx.record.stream_id, account)


@balances.on(AccountClosed)
def _closed(event: AccountClosed, ctx: ProjectionContext) -> None:
    accounts = ctx.documents("accounts")
    account = accounts.get(ctx.record.stream_id)
    if account is not None:
        account["open"] = False
        accounts.put(ctx.record.stream_id, account)


audit_trail = Projection("audit_trail", categories=[CATEGORY])
"""Every event of every account: what, how much, who, from where, when, and why."""


@audit_trail.setup
def _create_movements(ctx: ProjectionContext) -> None:
    ctx.execute(
        f"CREATE TABLE {ctx.table('movements')} ("
        " account TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,"
        " amount_cents BIGINT, who TEXT, origin TEXT, recorded_at TEXT NOT NULL,"
        " event_id TEXT NOT NULL, causation_id TEXT, correlation_id TEXT,"
        " PRIMARY KEY (account, version))"
    )


@audit_trail.on(
    AccountOpened, Deposited, Withdrawn, WithdrawalRefused, AccountClosed, AccountClosureRefused
)
def _movement(event: Any, ctx: ProjectionContext) -> None:
    record = ctx.record
    mark = "?" if ctx.dialect == "sqlite" else "%s"
    metadata = record.metadata
    ctx.execute(
        f"INSERT INTO {ctx.table('movements')} (account, version, kind, amount_cents, who,"
        f" origin, recorded_at, event_id, causation_id, correlation_id)"
        f" VALUES ({', '.join([mark] * 10)})",
        (
            record.stream_id,
            record.version,
            type(event).__name__,
            getattr(event, "amount_cents", None),
            _text(metadata.get("user")),
            _text(metadata.get("ip") or metadata.get("channel")),
            record.recorded_at.astimezone(dt.UTC).isoformat(),
            str(record.event_id),
            _text(record.causation_id),
            _text(record.correlation_id),
        ),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
