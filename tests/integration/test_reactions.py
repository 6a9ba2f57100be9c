"""Reactions on every backend: commands caused by events, retries, parking, order per stream."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest

from histoire import (
    Command,
    CommandHandler,
    Decider,
    Event,
    EventStore,
    StoreUnavailableError,
)
from histoire.app.reactions import Reaction, ReactionContext, ReactionRunner
from histoire.examples import bank
from histoire.store import parking, progress

from .live_runs import live_until


class RaiseAlert(Command):
    about: str


class AlertRaised(Event):
    type_name: ClassVar[str] = "test.AlertRaised"
    about: str


alerts = Decider(
    name="alerts",
    initial_state=lambda: 0,
    decide=lambda command, state: [AlertRaised(about=command.about)],
    evolve=lambda state, event: state + 1,
    events=[AlertRaised],
)


def bank_handler(store: EventStore) -> CommandHandler[Any, Any, Any]:
    return CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())


def refusals(store: EventStore, accounts: int = 2) -> None:
    handler = bank_handler(store)
    for n in range(accounts):
        handler.handle(f"account-{n}", bank.OpenAccount(owner=f"o{n}"))
        handler.handle(f"account-{n}", bank.Withdraw(amount_cents=100 + n))


def alerting() -> Reaction:
    reaction = Reaction("alerting")

    @reaction.on(bank.WithdrawalRefused)
    def alert(event: bank.WithdrawalRefused, ctx: ReactionContext) -> None:
        ctx.issue("alerts", "alert-bank", RaiseAlert(about=ctx.record.stream_id))

    return reaction


def runner(store: EventStore, reaction: Reaction, **options: Any) -> ReactionRunner:
    from histoire import Application

    app = Application(
        name="test",
        deciders=[bank.make_decider(), alerts],
        upcasters=bank.make_upcasters(),
        reactions=[reaction],
    )
    return ReactionRunner(store, reaction, app=app, **options)


def test_caused_events_carry_the_cause_and_a_redelivery_stores_nothing_new(
    store: EventStore,
) -> None:
    """Causation is the triggering event, correlation its chain's; running again adds nothing."""
    refusals(store)
    report = runner(store, alerting()).run()
    assert report.handled == 2
    raised = list(store.read_stream("alert-bank"))
    triggers = [e for e in store.read_log(types=["bank.WithdrawalRefused"])]
    assert [r.causation_id for r in raised] == [t.event_id for t in triggers]
    assert [r.correlation_id for r in raised] == [t.correlation_id for t in triggers]
    assert raised[0].metadata["reaction"] == "alerting"
    with store.transaction() as tx:  # type: ignore[attr-defined]
        progress.reset(tx, "reaction:alerting")  # as if every delivery were lost
    again = runner(store, alerting()).run()
    assert again.handled == 2
    assert len(list(store.read_stream("alert-bank"))) == 2


def flaky(calls: list[tuple[str, int]], failing: set[str]) -> Reaction:
    """Records each delivery; fails for the streams in `failing` (mutable: fix it later)."""
    reaction = Reaction("mailer", max_attempts=3, base_delay=0.01, max_delay=0.02)

    @reaction.on(bank.AccountOpened, bank.WithdrawalRefused, bank.Deposited)
    def send(event: Any, ctx: ReactionContext) -> None:
        if ctx.record.stream_id in failing:
            raise ConnectionError("SMTP server down")
        calls.append((ctx.record.stream_id, ctx.record.version))

    return reaction


def test_a_failing_event_is_retried_then_parked_while_other_streams_go_on(
    store: EventStore,
) -> None:
    """After max_attempts the event is parked; later events of its stream wait behind it."""
    refusals(store, accounts=2)  # account-0 and account-1: opened (v1), refused (v2)
    calls: list[tuple[str, int]] = []
    failing = {"account-0"}
    reaction = flaky(calls, failing)
    report = runner(store, reaction).run()
    assert calls == [("account-1", 1), ("account-1", 2)]
    for _ in range(3):  # the retries come due
        time.sleep(0.05)
        runner(store, reaction).run()
    with store.transaction() as tx:  # type: ignore[attr-defined]
        entries = parking.entries(tx, "reaction:mailer")
    assert [(e.stream_id, e.state) for e in entries] == [
        ("account-0", "parked"),
        ("account-0", "waiting"),
    ]
    assert entries[0].attempts == 3
    assert entries[0].error == "ConnectionError: SMTP server down"
    assert report.failed_attempts == 1
    # The server is back; a retry delivers the parked event, then the one behind it.
    failing.clear()
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert parking.request_retry(tx, entries[0].event_id) == 1
    bank_handler(store).handle("account-0", bank.Deposit(amount_cents=5))
    runner(store, reaction).run()
    assert calls[2:] == [("account-0", 1), ("account-0", 2), ("account-0", 3)]
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert parking.entries(tx, "reaction:mailer") == []
    runner(store, reaction).run()
    assert len(calls) == 5, "nothing is delivered twice"


def test_the_store_unavailable_under_a_handler_is_no_failed_attempt(store: EventStore) -> None:
    """A handler that meets StoreUnavailableError (the database restarting under its
    command) parks nothing and counts no attempt: a catch-up raises it, a live run waits
    and delivers again from its checkpoint, every event at least once."""
    refusals(store, accounts=2)
    calls: list[tuple[str, int]] = []
    down = {"times": 0}
    reaction = Reaction("mailer", max_attempts=1)

    @reaction.on(bank.AccountOpened, bank.WithdrawalRefused)
    def send(event: Any, ctx: ReactionContext) -> None:
        if ctx.record.stream_id == "account-1" and down["times"] < 2:
            down["times"] += 1
            raise StoreUnavailableError("the database is restarting")
        calls.append((ctx.record.stream_id, ctx.record.version))

    with pytest.raises(StoreUnavailableError):
        runner(store, reaction).run()
    report = live_until(
        lambda stop: runner(store, reaction).run(live=True, stop=stop),
        lambda: ("account-1", 2) in calls,
    )
    assert set(calls) == {("account-0", 1), ("account-0", 2), ("account-1", 1), ("account-1", 2)}
    assert down["times"] == 2 and report is not None and report.failed_attempts == 0
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert parking.entries(tx, "reaction:mailer") == []


def test_a_skipped_event_is_never_delivered_and_its_stream_goes_on(store: EventStore) -> None:
    """Skip gives up on the parked event; the events behind it are delivered in order."""
    refusals(store, accounts=1)
    calls: list[tuple[str, int]] = []
    failing = {"account-0"}
    reaction = flaky(calls, failing)
    runner(store, reaction).run()
    with store.transaction() as tx:  # type: ignore[attr-defined]
        head = parking.entries(tx, "reaction:mailer")[0]
        assert parking.mark_skipped(tx, head.event_id) == ["reaction:mailer"]
    failing.clear()
    runner(store, reaction).run()
    assert calls == [("account-0", 2)]


def test_a_second_live_runner_of_a_member_stands_by_then_takes_over(store: EventStore) -> None:
    """Two live workers of one reaction (a deployment's overlap, or a mistake): the second
    stands by after its first race instead of delivering every event a second time, and
    takes over once the first stops."""
    import threading

    calls: list[tuple[str, int]] = []
    reaction = flaky(calls, failing=set())
    handler = bank_handler(store)

    def delivered(count: int) -> None:
        deadline = time.monotonic() + 20
        while len(set(calls)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(set(calls)) == count

    first_stop, second_stop = threading.Event(), threading.Event()
    first = threading.Thread(
        target=runner(store, reaction).run, kwargs={"live": True, "stop": first_stop}
    )
    second = threading.Thread(
        target=runner(store, reaction).run, kwargs={"live": True, "stop": second_stop}
    )
    first.start()
    try:
        handler.handle("account-0", bank.OpenAccount(owner="o0"))
        delivered(1)
        second.start()
        for n in range(1, 21):
            handler.handle("account-0", bank.Deposit(amount_cents=n))
            time.sleep(0.02)
        delivered(21)
        doubles = len(calls) - len(set(calls))
        # Every one of the 20 without standing by; the first race may hold a few.
        assert doubles < 10, f"{doubles} of 20 events delivered twice"
        first_stop.set()
        first.join(timeout=10)
        for n in range(21, 26):
            handler.handle("account-0", bank.Deposit(amount_cents=n))
        delivered(26)
    finally:
        first_stop.set()
        second_stop.set()
        first.join(timeout=10)
        second.join(timeout=10)
    assert sorted(set(calls)) == [("account-0", v) for v in range(1, 27)]
