"""histoire.testing.given: given/when/then specifications that fail with useful messages."""

from __future__ import annotations

import dataclasses

import pytest

from histoire import (
    InvalidCommandError,
    InvalidDecisionError,
    InvalidEventError,
    MalformedCommandError,
)
from histoire.examples.bank import (
    Account,
    AccountOpened,
    Deposit,
    Deposited,
    Withdraw,
    WithdrawalRefused,
    make_decider,
)
from histoire.testing import given

from ..domains import Borrow, Borrowed, library

bank = make_decider()
OPENED = AccountOpened(owner="ada", currency="EUR")


def test_then_returns_the_state_after_the_decision() -> None:
    """A matching then() gives the state the history and the decision lead to."""
    state = (
        given(bank, [OPENED, Deposited(amount_cents=100, currency="EUR")])
        .when(Withdraw(amount_cents=500))
        .then([WithdrawalRefused(amount_cents=500, balance_cents=100, reason="insufficient funds")])
    )
    assert state == Account(opened=True, owner="ada", currency="EUR", balance_cents=100)


def test_then_fails_showing_expected_and_decided_events() -> None:
    """A mismatch raises AssertionError naming the command, the expected and the decided events."""
    spec = given(bank, [OPENED]).when(Deposit(amount_cents=100))
    with pytest.raises(AssertionError) as raised:
        spec.then([Deposited(amount_cents=999, currency="EUR")])
    message = str(raised.value)
    assert "Deposit(amount_cents=100)" in message
    assert "amount_cents=999" in message and "amount_cents=100, currency='EUR'" in message


def test_then_fails_when_the_command_raised() -> None:
    """then() on a command that raised fails with the error as cause."""
    spec = given(bank).when(Deposit(amount_cents=100))
    with pytest.raises(AssertionError, match="raised") as raised:
        spec.then([])
    assert isinstance(raised.value.__cause__, InvalidCommandError)


def test_then_raises_returns_the_error() -> None:
    """then_raises() checks the error's type and message and returns it."""
    error = (
        given(bank, [OPENED])
        .when(Deposit(amount_cents=-1))
        .then_raises(InvalidCommandError, match="positive")
    )
    assert isinstance(error, InvalidCommandError)
    given(bank).when(Deposit(amount_cents=1)).then_raises(
        InvalidCommandError, match=lambda e: "does not exist" in str(e)
    )


def test_then_raises_fails_when_the_command_decided() -> None:
    """then_raises() on a command that decided events fails, showing them."""
    spec = given(bank, [OPENED]).when(Deposit(amount_cents=1))
    with pytest.raises(AssertionError, match="Deposited"):
        spec.then_raises(InvalidCommandError)


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (KeyError, None),
        (InvalidCommandError, "nothing like this"),
        (InvalidCommandError, lambda e: False),
    ],
    ids=["other-type", "other-message", "check-fails"],
)
def test_then_raises_fails_on_another_error(error: type[Exception], match: object) -> None:
    """then_raises() fails when the type, the message or the check does not match."""
    spec = given(bank).when(Deposit(amount_cents=1))
    with pytest.raises(AssertionError):
        spec.then_raises(error, match=match)  # type: ignore[arg-type]


def test_given_touches_no_store() -> None:
    """A specification folds its history in memory: the history list is not changed."""
    history = [OPENED]
    given(bank, history).when(Deposit(amount_cents=1)).then(
        [Deposited(amount_cents=1, currency="EUR")]
    )
    assert history == [OPENED]


def test_a_spec_refuses_what_a_handler_would_refuse() -> None:
    """A malformed event or command, or decide returning None, fails the spec as in handle()."""
    wrong = dataclasses.replace(library, decide=lambda command, book: [Borrowed(member=42)])
    given(wrong).when(Borrow(member="ada")).then_raises(InvalidEventError, match="member")
    silent = dataclasses.replace(library, decide=lambda command, book: None)
    given(silent).when(Borrow(member="ada")).then_raises(InvalidDecisionError)
    given(library).when(Borrow(member=42)).then_raises(MalformedCommandError)  # type: ignore[arg-type]
