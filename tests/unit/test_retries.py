"""The retry policy: exponential backoff with full jitter, bounded by attempts or a deadline."""

from __future__ import annotations

import math
from typing import Any

import pytest

from histoire import (
    CommandHandler,
    Decider,
    InvalidInputError,
    MemoryEventStore,
    RetriesExhaustedError,
    RetryPolicy,
)
from histoire.examples.bank import Deposit, OpenAccount

from .test_handler import bank_handler, interfered


class FakeTime:
    """A clock that only moves when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def policy(self, **options: Any) -> RetryPolicy:
        """A policy on this clock, drawing the top of each jitter range unless told."""
        return RetryPolicy(sleep=self.sleep, clock=self.clock, **{"random": lambda: 1.0, **options})


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    """With random() at its top, the n-th delay is base * 2**(n-1), capped at max_delay."""
    policy = RetryPolicy(
        max_attempts=10, base_delay=0.01, max_delay=0.05, deadline=None, random=lambda: 1.0
    )
    delays = [policy.delay(attempts, started=0.0) for attempts in range(1, 7)]
    assert delays == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05, 0.05])


def test_the_jitter_scales_the_ceiling() -> None:
    """The delay is the ceiling times a random draw in [0, 1): full jitter."""
    draws = iter([0.0, 0.5, 0.25])
    policy = RetryPolicy(base_delay=0.01, max_delay=1.0, random=lambda: next(draws))
    assert [policy.delay(n, started=policy.clock()) for n in (1, 2, 3)] == pytest.approx(
        [0.0, 0.01, 0.01]
    )


def test_attempts_run_out() -> None:
    """After max_attempts attempts, delay() says to give up."""
    policy = RetryPolicy(max_attempts=3, deadline=None)
    assert policy.delay(2, started=0.0) is not None
    assert policy.delay(3, started=0.0) is None


def test_a_deadline_stops_retrying_before_a_sleep_would_pass_it() -> None:
    """With a deadline, a command retries as long as the next sleep ends within it."""
    time = FakeTime()
    policy = time.policy(max_attempts=None, base_delay=0.1, max_delay=0.1, deadline=0.35)
    started = time.clock()
    attempts = 0
    while (delay := policy.delay(attempts := attempts + 1, started)) is not None:
        policy.sleep(delay)
    assert time.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert attempts == 4


def test_the_handler_sleeps_between_conflicts_and_then_succeeds() -> None:
    """A command meeting three conflicts sleeps three times, growing, then is stored."""
    store = MemoryEventStore()
    bank = bank_handler(store)
    bank.handle("account-1", OpenAccount(owner="ada"))
    time = FakeTime()
    retry = time.policy(base_delay=0.001, random=lambda: 0.999)
    handler, _ = interfered(store, times=3, retry=retry)
    result = handler.handle("account-1", Deposit(amount_cents=5))
    assert result.state.balance_cents == 8
    assert time.sleeps == pytest.approx([0.000999, 0.001998, 0.003996])


def test_the_handler_gives_up_at_the_deadline() -> None:
    """A command that conflicts forever raises RetriesExhaustedError once the deadline is near."""
    store = MemoryEventStore()
    bank_handler(store).handle("account-1", OpenAccount(owner="ada"))
    time = FakeTime()
    retry = time.policy(max_attempts=None, base_delay=0.5, max_delay=0.5, deadline=2.0)
    handler, _ = interfered(store, times=1000, retry=retry)
    with pytest.raises(RetriesExhaustedError) as raised:
        handler.handle("account-1", Deposit(amount_cents=5))
    assert raised.value.attempts == 5
    assert sum(time.sleeps) == pytest.approx(2.0)


def test_the_defaults_retry_with_backoff_for_a_while() -> None:
    """The default policy: 100 attempts within 10 s, from 2 ms doubling up to 250 ms."""
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.deadline) == (
        100,
        0.002,
        0.25,
        10.0,
    )
    assert (
        CommandHandler(
            MemoryEventStore(),
            Decider(name="x", initial_state=int, decide=lambda c, s: [], evolve=lambda s, e: s),
        ).retry
        == policy
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"base_delay": -0.1}, "base_delay"),
        ({"base_delay": math.nan}, "base_delay"),
        ({"max_delay": math.inf}, "max_delay"),
        ({"base_delay": 1.0, "max_delay": 0.5}, "max_delay"),
        ({"deadline": -1}, "deadline"),
        ({"deadline": "10"}, "deadline"),
        ({"max_attempts": None, "deadline": None}, "forever"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(options: dict[str, Any], match: str) -> None:
    """Each setting is checked when the policy is made, with an InvalidInputError naming it."""
    with pytest.raises(InvalidInputError, match=match):
        RetryPolicy(**options)


def test_the_settings_are_keyword_only() -> None:
    """RetryPolicy(5) would be ambiguous: settings are named."""
    with pytest.raises(TypeError):
        RetryPolicy(5)  # type: ignore[misc]


def test_the_handler_refuses_something_else_than_a_policy() -> None:
    """retry=3 is refused (max_retries was the count)."""
    with pytest.raises(InvalidInputError, match="RetryPolicy"):
        bank_handler(retry=3)
