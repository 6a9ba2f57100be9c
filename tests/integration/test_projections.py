"""Projections on every backend: catch-up, live follow, exactly once, failures, generations."""

from __future__ import annotations

import pickle
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from histoire import (
    CommandHandler,
    EventStore,
    HandlerError,
    IntegrityError,
    InvalidInputError,
    NewEvent,
    RecordedEvent,
    StoreError,
    StoreUnavailableError,
)
from histoire.app.follower import ConsumerGroup
from histoire.app.projections import Projection, ProjectionContext, ProjectionRunner, generations
from histoire.app.projections.reading import read_model
from histoire.app.projections.status import projection_status, wait_for_projection
from histoire.codec.ids import new_event_id
from histoire.examples import bank
from histoire.store import progress

from .live_runs import live_until


def balances_projection(
    version: int = 1,
    fail_on: set[int] | None = None,
    before_move: Callable[[Any], None] | None = None,
) -> Projection:
    """Balances per account as documents; optionally failing on deposits of some amounts
    (or calling `before_move` with each deposit or withdrawal first)."""
    projection = Projection("balances", version=version)

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        ctx.documents("accounts").put(ctx.record.stream_id, {"owner": event.owner, "cents": 0})

    @projection.on(bank.Deposited, bank.Withdrawn)
    def moved(event: Any, ctx: ProjectionContext) -> None:
        if fail_on and event.amount_cents in fail_on:
            raise RuntimeError(f"cannot take {event.amount_cents}")
        if before_move is not None:
            before_move(event)
        accounts = ctx.documents("accounts")
        doc = accounts.get(ctx.record.stream_id)
        assert doc is not None
        sign = 1 if isinstance(event, bank.Deposited) else -1
        doc["cents"] += sign * event.amount_cents
        accounts.put(ctx.record.stream_id, doc)

    return projection


def accounts_handler(store: EventStore) -> CommandHandler[Any, Any, Any]:
    return CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())


def balances(store: EventStore) -> dict[str, int]:
    with read_model(store, "balances") as view:
        return {key: doc["cents"] for key, doc in view.documents("accounts")}


def fill(store: EventStore, accounts: int = 5, deposits: int = 3) -> dict[str, int]:
    handler = accounts_handler(store)
    expected: dict[str, int] = {}
    for a in range(accounts):
        stream = f"account-{a}"
        handler.handle(stream, bank.OpenAccount(owner=f"owner {a}"))
        expected[stream] = 0
        for d in range(1, deposits + 1):
            handler.handle(stream, bank.Deposit(amount_cents=a * 100 + d))
            expected[stream] += a * 100 + d
    return expected


def runner(store: EventStore, projection: Projection, **options: Any) -> ProjectionRunner:
    return ProjectionRunner(store, projection, codec=accounts_handler(store).codec, **options)


def test_catch_up_builds_the_view_from_the_whole_log(store: EventStore) -> None:
    """A first run folds every event of the log into the read model."""
    expected = fill(store)
    report = runner(store, balances_projection(), batch_size=4).run()
    assert report.failure is None
    assert report.handled == 20
    assert balances(store) == expected


def test_a_second_run_resumes_from_the_checkpoint_and_applies_nothing_twice(
    store: EventStore,
) -> None:
    """Events already applied are not applied again; new ones are."""
    expected = fill(store, accounts=2)
    runner(store, balances_projection()).run()
    handler = accounts_handler(store)
    handler.handle("account-0", bank.Deposit(amount_cents=5))
    expected["account-0"] += 5
    report = runner(store, balances_projection()).run()
    assert report.handled == 1
    assert balances(store) == expected


def test_live_follow_applies_new_events_and_stops_when_told(store: EventStore) -> None:
    """A live run sees an append within a moment and ends cleanly on stop."""
    fill(store, accounts=1, deposits=1)
    stop = threading.Event()
    projection = balances_projection()
    reports: list[Any] = []
    thread = threading.Thread(
        target=lambda: reports.append(runner(store, projection).run(live=True, stop=stop))
    )
    thread.start()
    try:
        result = accounts_handler(store).handle("account-0", bank.Deposit(amount_cents=40))
        assert wait_for_projection(store, "balances", result.events[-1].checkpoint, timeout=10)
        assert balances(store)["account-0"] == 41
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert reports[0].failure is None


def test_two_runners_of_one_member_never_apply_an_event_twice(store: EventStore) -> None:
    """Two live workers of one projection at once (a deployment's overlap, or a mistake):
    a batch commits only from the checkpoint it started at, so each deposit counts once."""
    expected = fill(store, accounts=4, deposits=5)
    projection = balances_projection()
    stop = threading.Event()
    reports: list[Any] = []

    def work() -> None:
        reports.append(runner(store, projection, batch_size=2).run(live=True, stop=stop))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        handler = accounts_handler(store)
        for n in range(40):
            stream = f"account-{n % 4}"
            handler.handle(stream, bank.Deposit(amount_cents=n + 1))
            expected[stream] += n + 1
        assert wait_for_projection(store, "balances", store.head(), timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert [r.failure for r in reports] == [None, None]
    assert balances(store) == expected


def test_a_failing_handler_stops_the_projection_with_the_error_visible(
    store: EventStore,
) -> None:
    """The events before the failing one are kept; it and the later ones wait."""
    fill(store, accounts=2, deposits=3)  # account-1 deposits 101, 102, 103
    report = runner(store, balances_projection(fail_on={102})).run()
    assert isinstance(report.failure, HandlerError)
    assert report.failure.stream_id == "account-1"
    assert "cannot take 102" in report.failure.error
    assert balances(store) == {"account-0": 6, "account-1": 101}
    (status,) = projection_status(store, "balances")
    assert status.state == "failing"
    assert status.error is not None and "cannot take 102" in status.error
    assert status.traceback is not None and "RuntimeError" in status.traceback
    assert status.failed_event_id == str(report.failure.event_id)
    # Fixed and run again: it goes on from the failing event, nothing doubled.
    report = runner(store, balances_projection()).run()
    assert report.failure is None
    assert balances(store) == {"account-0": 6, "account-1": 306}
    (status,) = projection_status(store, "balances")
    assert status.state != "failing" and status.error is None


def test_the_store_unavailable_under_a_handler_is_not_the_events_failure(
    store: EventStore,
) -> None:
    """A handler that meets StoreUnavailableError (its database restarting under one of
    its statements, or under an envelope read late) records no failure: a catch-up
    raises it, and a live run waits and redoes the batch from its checkpoint."""
    expected = fill(store, accounts=2, deposits=3)
    down = {"times": 0}

    def flaky(event: Any) -> None:
        if event.amount_cents == 102 and down["times"] < 2:
            down["times"] += 1
            raise StoreUnavailableError("the database is restarting")

    projection = balances_projection(before_move=flaky)
    with pytest.raises(StoreUnavailableError):
        runner(store, projection).run()
    (status,) = projection_status(store, "balances")
    assert status.state != "failing" and status.error is None
    report = live_until(
        lambda stop: runner(store, projection).run(live=True, stop=stop),
        lambda: balances(store) == expected,
    )
    assert balances(store) == expected and down["times"] == 2
    assert report is not None and report.failure is None


@pytest.mark.parametrize("alone", [True, False], ids=["one-batch-handler", "mixed-handlers"])
def test_an_event_that_does_not_decode_in_a_batch_run_is_the_one_named(
    store: EventStore, alone: bool
) -> None:
    """A wrongly typed event among those of a batch handler stops the projection at that
    event (not the run's first): the ones before it are kept, and skipping it goes on."""
    fill(store, accounts=1, deposits=2)  # account-0: opened, deposits 1 and 2
    poison = NewEvent(
        event_id=new_event_id(),
        type="bank.Deposited",
        schema_version=2,
        data=b'{"amount_cents": "lots", "currency": "EUR"}',
    )
    store.append("account-0", [poison])
    later = accounts_handler(store)  # account-0 no longer loads: later events elsewhere
    later.handle("account-1", bank.OpenAccount(owner="owner 1"))
    later.handle("account-1", bank.Deposit(amount_cents=4))
    projection = Projection("balances")

    if not alone:

        @projection.on(bank.AccountOpened)
        def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
            ctx.documents("accounts").put(ctx.record.stream_id, {"cents": 0})

    @projection.on_batch(bank.Deposited, *([] if not alone else [bank.AccountOpened]))
    def moved(pairs: list[tuple[Any, RecordedEvent]], ctx: ProjectionContext) -> None:
        accounts = ctx.documents("accounts")
        for event, record in pairs:
            doc = accounts.get(record.stream_id) or {"cents": 0}
            doc["cents"] += getattr(event, "amount_cents", 0)
            accounts.put(record.stream_id, doc)

    report = runner(store, projection).run()
    assert isinstance(report.failure, HandlerError)
    assert report.failure.event_id == poison.event_id
    assert "amount_cents" in report.failure.error
    assert balances(store) == {"account-0": 3}
    (status,) = projection_status(store, "balances")
    assert status.failed_event_id == str(poison.event_id)
    with store.transaction() as tx:  # type: ignore[attr-defined]  # as `projections skip` does
        name = generations.follower_name("balances", 1)
        progress.add_skip(tx, name, str(poison.event_id), "test", "a bad payload")
    assert runner(store, projection).run().failure is None
    assert balances(store) == {"account-0": 3, "account-1": 4}


def test_a_version_bump_builds_a_new_generation_while_the_old_one_serves(
    store: EventStore,
) -> None:
    """Readers keep the old view until the new version has caught up; then it swaps."""
    fill(store, accounts=2, deposits=1)
    runner(store, balances_projection(version=1)).run()
    before = balances(store)
    seen_during_build: list[dict[str, int]] = []

    def look(report: Any, batch: Any) -> None:
        seen_during_build.append(balances(store))

    report = runner(store, balances_projection(version=2), batch_size=1, on_batch=look).run()
    assert report.swapped and report.generation == 2
    assert all(view == before for view in seen_during_build)
    assert balances(store) == before
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert tx.table_names("balances__g1__") == []


def test_a_reader_of_the_old_generation_is_not_cut_off_by_the_swap(store: EventStore) -> None:
    """A read that began before a swap reads the old tables to its end; the swap waits for it."""
    expected = fill(store, accounts=2, deposits=1)
    runner(store, balances_projection(version=1)).run()
    reports: list[Any] = []
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            reports.append(runner(store, balances_projection(version=2)).run())
        except BaseException as exc:
            errors.append(exc)

    with read_model(store, "balances") as view:
        build = threading.Thread(target=rebuild)
        build.start()
        build.join(timeout=1.5)  # time enough to build generation 2 and try to swap it in
        again = {key: doc["cents"] for key, doc in view.documents("accounts")}
    build.join(timeout=30)
    assert not errors, errors
    assert again == expected
    assert reports[0].swapped and reports[0].generation == 2
    assert balances(store) == expected


def test_a_failing_statement_of_a_read_model_raises_histoire_errors(store: EventStore) -> None:
    """The user's own SQL fails with histoire's errors naming the statement, not the driver's."""
    fill(store, accounts=1, deposits=1)
    runner(store, balances_projection()).run()
    missing = pytest.raises(StoreError, match="running 'SELECT nothing FROM nowhere'")
    with missing as raised, read_model(store, "balances") as view:
        view.execute("SELECT nothing FROM nowhere")
    assert type(raised.value) is StoreError
    with pytest.raises(StoreError, match="read-only"), read_model(store, "balances") as view:
        view.execute(f"DELETE FROM {view.table('accounts')}")
    assert balances(store) == {"account-0": 1}
    with (
        pytest.raises(InvalidInputError, match="not valid Unicode"),
        read_model(store, "balances") as view,
    ):
        mark = "?" if view.dialect == "sqlite" else "%s"
        view.execute(
            f"SELECT count(*) FROM {view.table('accounts')} WHERE key = {mark}", ["\ud800"]
        )
    writing = store.transaction()  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="INSERT INTO"), writing as tx:
        table = tx.table("unique_keys")
        mark = "?" if tx.dialect == "sqlite" else "%s"
        tx.execute(f"CREATE TABLE {table} (key TEXT PRIMARY KEY)")
        tx.executemany(f"INSERT INTO {table} (key) VALUES ({mark})", [["k"], ["k"]])


def test_a_handler_that_catches_a_failed_statement_and_goes_on(store: EventStore) -> None:
    """SQLite goes on after a failed statement; PostgreSQL ends the transaction: there the
    projection stops with an error that names the first failure and says what to do
    instead, not only "current transaction is aborted"."""
    projection = Projection("counts")

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(f"CREATE TABLE {ctx.table('counts')} (key TEXT PRIMARY KEY, n INTEGER)")

    @projection.on(bank.Deposited)
    def count(event: bank.Deposited, ctx: ProjectionContext) -> None:
        table, mark = ctx.table("counts"), "?" if ctx.dialect == "sqlite" else "%s"
        try:
            ctx.execute(f"INSERT INTO {table} VALUES ({mark}, 1)", (ctx.record.stream_id,))
        except IntegrityError:
            ctx.execute(f"UPDATE {table} SET n = n + 1 WHERE key = {mark}", (ctx.record.stream_id,))

    fill(store, accounts=1, deposits=3)
    report = runner(store, projection).run()
    if store.url.startswith("postgresql"):
        assert report.failure is not None
        message = str(report.failure)
        assert "an earlier statement of this transaction failed (IntegrityError" in message
        assert "INSERT ... ON CONFLICT" in message
    else:
        assert report.failure is None
        with read_model(store, projection) as view:
            assert view.execute(f"SELECT key, n FROM {view.table('counts')}") == [("account-0", 3)]


def test_consumer_group_members_together_build_the_same_view(store: EventStore) -> None:
    """Three members split the streams; together they give the one-member view."""
    expected = fill(store, accounts=9, deposits=2)
    for member in range(3):
        runner(store, balances_projection(), group=ConsumerGroup(member, 3)).run()
    assert balances(store) == expected
    statuses = projection_status(store, "balances")
    assert sorted(s.member for s in statuses) == [0, 1, 2]
    assert sum(s.handled for s in statuses) == 27


def test_a_non_transactional_projection_records_its_checkpoint_after_its_handlers(
    store: EventStore,
) -> None:
    """A projection writing elsewhere gets every event, and resumes after the last one."""
    seen: list[tuple[str, int]] = []
    projection = Projection("mailer", transactional=False)

    @projection.on(bank.Deposited)
    def remember(event: bank.Deposited, ctx: ProjectionContext) -> None:
        seen.append((ctx.record.stream_id, event.amount_cents))

    fill(store, accounts=2, deposits=2)
    runner(store, projection).run()
    runner(store, projection).run()
    assert sorted(seen) == [
        ("account-0", 1),
        ("account-0", 2),
        ("account-1", 101),
        ("account-1", 102),
    ]


def test_status_says_running_only_while_a_runner_runs(store: EventStore) -> None:
    """A live runner is `running`; once it is told to stop, or a catch-up run ends, it is not."""
    fill(store, accounts=1, deposits=1)
    projection = balances_projection()
    runner(store, projection).run()
    assert [s.state for s in projection_status(store, "balances")] == ["caught up"]
    stop = threading.Event()
    thread = threading.Thread(target=lambda: runner(store, projection).run(live=True, stop=stop))
    thread.start()
    try:
        result = accounts_handler(store).handle("account-0", bank.Deposit(amount_cents=7))
        assert wait_for_projection(store, "balances", result.events[-1].checkpoint, timeout=10)
        assert [s.state for s in projection_status(store, "balances")] == ["running"]
    finally:
        stop.set()
        thread.join(timeout=10)
    accounts_handler(store).handle("account-0", bank.Deposit(amount_cents=8))
    # Not running any more (stopped: an event is left; on a PostgreSQL server shared with
    # busy transactions the head may not show it yet: caught up).
    assert [s.state for s in projection_status(store, "balances")] in (["stopped"], ["caught up"])


def test_a_sqlite_file_from_before_stops_were_recorded_still_runs(tmp_path: Any) -> None:
    """Progress tables made by an earlier histoire (no stopped_at) are read, then upgraded."""
    from histoire import open_store

    store = open_store(f"sqlite:///{tmp_path}/old.db")
    with store.transaction() as tx:  # the followers table as histoire made it before
        tx.execute(
            "CREATE TABLE histoire_followers (name TEXT NOT NULL, member INTEGER NOT NULL,"
            " members INTEGER NOT NULL, commit_id BIGINT NOT NULL, position BIGINT NOT NULL,"
            " handled BIGINT NOT NULL, updated_at BIGINT NOT NULL, failed_event_id TEXT,"
            " error TEXT, traceback TEXT, PRIMARY KEY (name, member, members))"
        )
        tx.execute(
            "CREATE TABLE histoire_read_models (name TEXT PRIMARY KEY, generation INTEGER"
            " NOT NULL, version INTEGER NOT NULL, building_generation INTEGER,"
            " building_version INTEGER)"
        )
    assert projection_status(store) == []
    expected = fill(store, accounts=2, deposits=1)
    assert runner(store, balances_projection()).run().failure is None
    assert balances(store) == expected
    assert [s.state for s in projection_status(store, "balances")] == ["caught up"]
    store.close()


def test_wait_for_projection_times_out_when_nothing_runs(store: EventStore) -> None:
    """Waiting for a checkpoint no run reaches gives False after the timeout."""
    fill(store, accounts=1, deposits=1)
    runner(store, balances_projection()).run()
    late = accounts_handler(store).handle("account-0", bank.Deposit(amount_cents=1))
    started = time.monotonic()
    assert not wait_for_projection(store, "balances", late.events[-1].checkpoint, timeout=0.3)
    assert time.monotonic() - started < 5


def test_status_shows_lag_in_events(store: EventStore) -> None:
    """Events appended after the last run show as lag."""
    fill(store, accounts=1, deposits=1)
    runner(store, balances_projection()).run()
    handler = accounts_handler(store)
    for _ in range(3):
        handler.handle("account-0", bank.Deposit(amount_cents=1))
    time.sleep(0.01)
    (status,) = projection_status(store, "balances")
    assert status.lag_events == 3
    assert status.lag_seconds > 0
    assert status.handled == 2


def test_a_projection_name_must_suit_sql() -> None:
    """Names become parts of table names: anything but lowercase words is refused."""
    from histoire import InvalidInputError

    for bad in ("Balances", "a b", "x;drop", "", "a__b", "1a"):
        with pytest.raises(InvalidInputError, match="invalid projection name"):
            Projection(bad)


def test_handlers_see_each_record_whole_even_when_the_envelope_is_read_late(
    store: EventStore,
) -> None:
    """A record given to a handler (one at a time or in a run) or to `on_batch` after the
    commit has every field of the stored event: ids, time, metadata, causation, correlation."""
    fill(store, accounts=3, deposits=4)
    store.append(
        "account-9",
        [
            NewEvent(
                event_id=new_event_id(),
                type=bank.AccountOpened.type_name,
                schema_version=1,
                data=b'{"owner":"o","currency":"EUR"}',
                metadata={"who": "auditor", "n": 1},
                causation_id=uuid.uuid4(),
                correlation_id=uuid.uuid4(),
            )
        ],
    )
    stored = {r.position: r for r in store.read_log()}
    seen: list[RecordedEvent] = []
    projection = Projection("envelopes")

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        assert ctx.record == stored[ctx.record.position]  # every field compared
        assert ctx.record.metadata == stored[ctx.record.position].metadata
        seen.append(ctx.record)

    @projection.on_batch(bank.Deposited)
    def deposited(items: list[tuple[Any, RecordedEvent]], ctx: ProjectionContext) -> None:
        for _, record in items[::2]:  # some asked for here, the others after the commit
            assert record.event_id == stored[record.position].event_id
        seen.extend(record for _, record in items)

    after: list[RecordedEvent] = []
    running = runner(store, projection, batch_size=5, on_batch=lambda _r, b: after.extend(b.events))
    assert running.run().failure is None
    assert len(seen) == len(after) == len(stored)
    for record in after:
        original = stored[record.position]
        assert (record.event_id, record.recorded_at, dict(record.metadata)) == (
            original.event_id,
            original.recorded_at,
            dict(original.metadata),
        )
        assert (record.causation_id, record.correlation_id) == (
            original.causation_id,
            original.correlation_id,
        )
        assert pickle.loads(pickle.dumps(record)) == original
