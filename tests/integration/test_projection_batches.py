"""Batch handlers (`on_batch`): runs of events in log order, written with one executemany."""

from __future__ import annotations

from typing import Any

import pytest

from histoire import CommandHandler, EventStore, HandlerError, InvalidInputError, RecordedEvent
from histoire.app.projections import Projection, ProjectionContext, ProjectionRunner
from histoire.app.projections.reading import read_model
from histoire.app.projections.status import projection_status
from histoire.examples import bank


def mark(ctx: ProjectionContext) -> str:
    return "?" if ctx.dialect == "sqlite" else "%s"


def balances_projection(runs: list[list[str]], fail_on: int | None = None) -> Projection:
    """Accounts inserted one event at a time; deposits and withdrawals applied in runs."""
    projection = Projection("balances")

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(
            f"CREATE TABLE {ctx.table('accounts')} (id TEXT PRIMARY KEY, cents BIGINT NOT NULL)"
        )

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        m = mark(ctx)
        ctx.execute(
            f"INSERT INTO {ctx.table('accounts')} (id, cents) VALUES ({m}, {m})",
            (ctx.record.stream_id, 0),
        )

    @projection.on_batch(bank.Deposited, bank.Withdrawn)
    def moved(items: list[tuple[Any, RecordedEvent]], ctx: ProjectionContext) -> None:
        runs.append([f"{r.stream_id}@{r.version}" for _, r in items])
        if any(event.amount_cents == fail_on for event, _ in items):
            raise RuntimeError(f"cannot take {fail_on}")
        m = mark(ctx)
        ctx.executemany(
            f"UPDATE {ctx.table('accounts')} SET cents = cents + {m} WHERE id = {m}",
            [
                (e.amount_cents if isinstance(e, bank.Deposited) else -e.amount_cents, r.stream_id)
                for e, r in items
            ],
        )

    return projection


def accounts_handler(store: EventStore) -> CommandHandler[Any, Any, Any]:
    return CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())


def runner(store: EventStore, projection: Projection, **options: Any) -> ProjectionRunner:
    return ProjectionRunner(store, projection, codec=accounts_handler(store).codec, **options)


def balances(store: EventStore) -> dict[str, int]:
    with read_model(store, "balances") as view:
        return dict(view.execute(f"SELECT id, cents FROM {view.table('accounts')}"))  # type: ignore[arg-type]


def open_and_deposit(store: EventStore, accounts: int, amounts: list[int]) -> dict[str, int]:
    """Each account opened, then the deposits, account after account."""
    handler = accounts_handler(store)
    expected = {}
    for a in range(accounts):
        stream = f"account-{a}"
        handler.handle(stream, bank.OpenAccount(owner=f"owner {a}"))
        for amount in amounts:
            handler.handle(stream, bank.Deposit(amount_cents=amount))
        expected[stream] = sum(amounts)
    return expected


def test_a_batch_handler_gets_the_runs_between_other_handlers_events_in_log_order(
    store: EventStore,
) -> None:
    """Each run is the consecutive events it handles; the per-event opening comes first."""
    expected = open_and_deposit(store, accounts=3, amounts=[10, 20])
    accounts_handler(store).handle("account-0", bank.Withdraw(amount_cents=5))
    expected["account-0"] -= 5
    runs: list[list[str]] = []
    report = runner(store, balances_projection(runs), batch_size=100).run()
    assert report.failure is None and report.handled == 10
    assert balances(store) == expected
    assert runs == [
        ["account-0@2", "account-0@3"],
        ["account-1@2", "account-1@3"],
        ["account-2@2", "account-2@3", "account-0@4"],
    ]


def test_a_run_ends_with_its_batch(store: EventStore) -> None:
    """No run spans two batches (two transactions)."""
    expected = open_and_deposit(store, accounts=1, amounts=[1, 2, 3, 4])
    runs: list[list[str]] = []
    runner(store, balances_projection(runs), batch_size=3).run()
    assert runs == [["account-0@2", "account-0@3"], ["account-0@4", "account-0@5"]]
    assert balances(store) == expected


def test_a_failing_batch_handler_applies_none_of_its_run_and_stops_at_its_first_event(
    store: EventStore,
) -> None:
    """The events before the run are kept; the failure shows the run's first event."""
    open_and_deposit(store, accounts=2, amounts=[7, 8])  # account-1: versions 2, 3
    runs: list[list[str]] = []
    report = runner(store, balances_projection(runs, fail_on=8), batch_size=100).run()
    assert isinstance(report.failure, HandlerError)
    assert (report.failure.stream_id, report.failure.version) == ("account-0", 2)
    assert "cannot take 8" in report.failure.error
    assert balances(store) == {"account-0": 0}
    (status,) = projection_status(store, "balances")
    assert status.state == "failing"
    assert status.failed_event_id == str(report.failure.event_id)
    report = runner(store, balances_projection(runs), batch_size=100).run()
    assert report.failure is None
    assert balances(store) == {"account-0": 15, "account-1": 15}


def test_an_event_type_has_one_handler_per_projection() -> None:
    """A type handled one at a time cannot also be handled in runs, nor the other way."""
    projection = Projection("views")
    projection.on(bank.Deposited)(lambda event, ctx: None)
    projection.on_batch(bank.Withdrawn)(lambda items, ctx: None)
    with pytest.raises(InvalidInputError, match="already handles"):
        projection.on_batch(bank.Deposited)
    with pytest.raises(InvalidInputError, match="already handles"):
        projection.on(bank.Withdrawn)
    with pytest.raises(InvalidInputError, match=r"on_batch\(\) needs an event type"):
        projection.on_batch()
    assert set(projection.event_types) == {bank.Deposited, bank.Withdrawn}
    assert bank.Withdrawn.type_name in projection.codec().registry
