"""Handlers' statements: writes sent ahead of their replies, failures still at their event.

On PostgreSQL a batch's INSERT, UPDATE and DELETE statements go out without
waiting for each reply (`Transaction.deferring`); on SQLite nothing changes.
Either way a handler reads what the handlers before it wrote, and a statement
that fails stops the projection at its own event, the events before it kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from histoire import CommandHandler, EventStore, HandlerError, IntegrityError
from histoire.app.projections import Projection, ProjectionContext, ProjectionRunner
from histoire.app.projections.reading import read_model
from histoire.app.projections.status import projection_status
from histoire.examples import bank
from histoire.store.transactions import returns_no_rows


def mark(ctx: Any) -> str:
    return "?" if ctx.dialect == "sqlite" else "%s"


def moves_projection(*, same_key: set[int], raise_on: set[int]) -> Projection:
    """One row per deposit, keyed by stream@version, except that deposits of the
    amounts in `same_key` all take the key "same" (a unique violation from the second
    one on) and those in `raise_on` raise in Python."""
    projection = Projection("moves")

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(f"CREATE TABLE {ctx.table('moves')} (id TEXT PRIMARY KEY, cents BIGINT)")

    @projection.on(bank.Deposited)
    def deposited(event: bank.Deposited, ctx: ProjectionContext) -> None:
        if event.amount_cents in raise_on:
            raise RuntimeError(f"cannot take {event.amount_cents}")
        record = ctx.record
        key = "same" if event.amount_cents in same_key else f"{record.stream_id}@{record.version}"
        m = mark(ctx)
        ctx.execute(
            f"INSERT INTO {ctx.table('moves')} (id, cents) VALUES ({m}, {m})",
            (key, event.amount_cents),
        )

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        return None

    return projection


def fill(store: EventStore, amounts: dict[str, list[int]]) -> None:
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    for stream, deposits in amounts.items():
        handler.handle(stream, bank.OpenAccount(owner=stream))
        for amount in deposits:
            handler.handle(stream, bank.Deposit(amount_cents=amount))


def runner(store: EventStore, projection: Projection) -> ProjectionRunner:
    codec = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters()).codec
    return ProjectionRunner(store, projection, codec=codec, batch_size=100)


def moves(store: EventStore) -> dict[str, int]:
    with read_model(store, "moves") as view:
        return dict(view.execute(f"SELECT id, cents FROM {view.table('moves')}"))


def test_a_statement_failing_in_the_database_stops_the_projection_at_its_event(
    store: EventStore,
) -> None:
    """The unique violation of the deposit of 4 is the failure, not the Python error of the
    later deposit of 5 in the same batch; the events before the 4 are committed."""
    fill(store, {"account-0": [1, 2, 3], "account-1": [4, 5]})
    report = runner(store, moves_projection(same_key={2, 4}, raise_on={5})).run()
    assert isinstance(report.failure, HandlerError)
    assert (report.failure.stream_id, report.failure.version) == ("account-1", 2)
    assert report.failure.error.startswith("IntegrityError: running 'INSERT INTO")
    assert moves(store) == {"account-0@2": 1, "same": 2, "account-0@4": 3}
    (status,) = projection_status(store, "moves")
    assert status.state == "failing"
    assert status.failed_event_id == str(report.failure.event_id)
    # Fixed and run again: it goes on from the failing event, nothing doubled.
    report = runner(store, moves_projection(same_key=set(), raise_on=set())).run()
    assert report.failure is None
    assert report.handled == 2  # the deposits of 4 and 5
    assert moves(store) == {
        "account-0@2": 1,
        "same": 2,
        "account-0@4": 3,
        "account-1@2": 4,
        "account-1@3": 5,
    }


def test_a_python_error_after_writes_in_flight_stops_at_its_own_event(
    store: EventStore,
) -> None:
    """With no statement failing, a handler's own error is the failure, the writes before
    it in the batch kept."""
    fill(store, {"account-0": [1, 2, 3]})
    report = runner(store, moves_projection(same_key=set(), raise_on={3})).run()
    assert isinstance(report.failure, HandlerError)
    assert (report.failure.stream_id, report.failure.version) == ("account-0", 4)
    assert "cannot take 3" in report.failure.error
    assert moves(store) == {"account-0@2": 1, "account-0@3": 2}


def test_a_handler_reads_what_the_handlers_before_it_wrote_in_the_batch(
    store: EventStore,
) -> None:
    """A read waits for the writes sent ahead of it: each row counts the rows before it. A
    statement that cannot go in a pipeline (two in one text, PostgreSQL) runs as usual, and
    nothing is handled twice."""
    projection = Projection("seen")
    calls: list[int] = []

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(f"CREATE TABLE {ctx.table('seen')} (id TEXT PRIMARY KEY, before BIGINT)")

    @projection.on(bank.AccountOpened, bank.Deposited)
    def seen(event: Any, ctx: ProjectionContext) -> None:
        calls.append(ctx.record.position)
        ((before,),) = ctx.execute(f"SELECT count(*) FROM {ctx.table('seen')}")
        if ctx.dialect == "postgresql":
            ctx.execute(f"SELECT 1; UPDATE {ctx.table('seen')} SET before = before")
        m = mark(ctx)
        ctx.execute(
            f"INSERT INTO {ctx.table('seen')} (id, before) VALUES ({m}, {m})",
            (f"{ctx.record.stream_id}@{ctx.record.version}", before),
        )
        ctx.execute(f"UPDATE {ctx.table('seen')} SET before = before + 0")

    fill(store, {"account-0": [1, 2], "account-1": [3]})
    report = runner(store, projection).run()
    assert report.failure is None and report.handled == 5
    assert calls == [1, 2, 3, 4, 5]
    with read_model(store, "seen") as view:
        rows = view.execute(f"SELECT before FROM {view.table('seen')} ORDER BY before")
    assert [before for (before,) in rows] == [0, 1, 2, 3, 4]


def test_writes_are_sent_ahead_or_held_and_fail_by_the_end(store: EventStore) -> None:
    """`deferring` sends writes ahead on PostgreSQL and holds runs of them for one executemany
    on SQLite; their error is histoire's, at the latest when the block ends."""
    with store.transaction() as tx:  # type: ignore[attr-defined]
        table = tx.table("keys")
        tx.execute(f"CREATE TABLE {table} (key TEXT PRIMARY KEY)")
    insert = f"INSERT INTO {table} (key) VALUES ({mark(tx)})"
    with (
        pytest.raises(IntegrityError),
        store.transaction() as tx,  # type: ignore[attr-defined]
        tx.deferring() as ahead,
    ):
        assert ahead is True
        assert tx.execute(insert, ["k"]) == []
        tx.execute(insert, ["k"])
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert tx.execute(f"SELECT count(*) FROM {table}") == [(0,)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  update t SET a = 1", True),
        ("DELETE FROM t", True),
        ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", True),
        ("INSERT INTO t VALUES (1) RETURNING a", False),
        ("INSERT INTO t VALUES (1); SELECT 1", False),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", False),
        ("SELECT 1", False),
        ("CREATE TABLE t (a INT)", False),
        ("", False),
    ],
)
def test_only_writes_returning_no_rows_are_sent_ahead(sql: str, expected: bool) -> None:
    """A statement that might return rows waits for its reply."""
    assert returns_no_rows(sql) is expected


def test_a_write_keeps_the_values_it_was_given(store: EventStore) -> None:
    """A handler may change its parameter list after the call (writes sent ahead are held
    with a copy of it), and writes of two texts keep their order."""
    projection = Projection("kept")
    params: list[Any] = ["", 0]

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(f"CREATE TABLE {ctx.table('kept')} (id TEXT PRIMARY KEY, n BIGINT)")

    @projection.on(bank.AccountOpened, bank.Deposited)
    def kept(event: Any, ctx: ProjectionContext) -> None:
        m = mark(ctx)
        params[0], params[1] = f"{ctx.record.stream_id}@{ctx.record.version}", 1
        ctx.execute(f"INSERT INTO {ctx.table('kept')} (id, n) VALUES ({m}, {m})", params)
        params[0], params[1] = "changed", -1
        ctx.execute(f"UPDATE {ctx.table('kept')} SET n = n * 10 WHERE n > 0")

    fill(store, {"account-0": [1, 2]})
    assert runner(store, projection).run().failure is None
    with read_model(store, "kept") as view:
        rows = dict(view.execute(f"SELECT id, n FROM {view.table('kept')}"))
    assert rows == {"account-0@1": 1000, "account-0@2": 100, "account-0@3": 10}
