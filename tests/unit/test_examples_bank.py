"""The bank example: decisions, refusals, and the Deposited v1 -> v2 upcaster."""

from __future__ import annotations

import uuid

import pytest

from histoire import Codec, CommandHandler, EventRegistry, InvalidCommandError, NewEvent, open_store
from histoire.examples.bank import (
    EVENTS,
    Account,
    AccountClosed,
    AccountClosureRefused,
    AccountOpened,
    BankEvent,
    CloseAccount,
    Deposit,
    Deposited,
    OpenAccount,
    Withdraw,
    WithdrawalRefused,
    Withdrawn,
    make_decider,
    make_upcasters,
)
from histoire.testing import given

bank = make_decider()
OPENED = AccountOpened(owner="ada", currency="EUR")


def test_opening_an_account_records_its_owner_and_currency() -> None:
    """OpenAccount on a new stream gives AccountOpened."""
    state = given(bank).when(OpenAccount(owner="ada")).then([OPENED])
    assert state == Account(opened=True, owner="ada", currency="EUR")


def test_a_deposit_adds_to_the_balance() -> None:
    """Deposit gives Deposited in the account's currency."""
    state = (
        given(bank, [OPENED])
        .when(Deposit(amount_cents=500))
        .then([Deposited(amount_cents=500, currency="EUR")])
    )
    assert state.balance_cents == 500


def test_a_withdrawal_within_the_balance_is_accepted() -> None:
    """Withdraw up to the balance gives Withdrawn."""
    history: list[BankEvent] = [OPENED, Deposited(amount_cents=500, currency="EUR")]
    state = (
        given(bank, history).when(Withdraw(amount_cents=500)).then([Withdrawn(amount_cents=500)])
    )
    assert state.balance_cents == 0


def test_a_withdrawal_over_the_balance_is_refused_and_the_refusal_is_an_event() -> None:
    """Withdraw beyond the balance gives WithdrawalRefused, and the balance is unchanged."""
    history: list[BankEvent] = [OPENED, Deposited(amount_cents=500, currency="EUR")]
    state = (
        given(bank, history)
        .when(Withdraw(amount_cents=501))
        .then([WithdrawalRefused(amount_cents=501, balance_cents=500, reason="insufficient funds")])
    )
    assert state.balance_cents == 500


def test_closing_with_money_left_is_refused() -> None:
    """CloseAccount with a non-zero balance gives AccountClosureRefused."""
    history: list[BankEvent] = [OPENED, Deposited(amount_cents=1, currency="EUR")]
    given(bank, history).when(CloseAccount()).then(
        [AccountClosureRefused(balance_cents=1, reason="the balance is not zero")]
    )


def test_closing_an_empty_account_closes_it() -> None:
    """CloseAccount with a zero balance gives AccountClosed."""
    state = given(bank, [OPENED]).when(CloseAccount()).then([AccountClosed()])
    assert state.closed


@pytest.mark.parametrize(
    ("history", "command", "message"),
    [
        ([], Deposit(amount_cents=5), "does not exist"),
        ([OPENED], Deposit(amount_cents=0), "must be positive"),
        ([OPENED], Withdraw(amount_cents=-5), "must be positive"),
        ([OPENED], OpenAccount(owner="ada"), "already open"),
        ([], OpenAccount(owner="  "), "needs an owner"),
        ([OPENED, AccountClosed()], Deposit(amount_cents=5), "closed"),
    ],
)
def test_malformed_commands_raise_and_decide_nothing(
    history: list[AccountOpened], command: object, message: str
) -> None:
    """Malformed commands raise InvalidCommandError instead of deciding events."""
    given(bank, history).when(command).then_raises(InvalidCommandError, message)  # type: ignore[arg-type]


def test_a_v1_deposit_is_read_as_v2_and_its_stored_row_is_unchanged() -> None:
    """A stored v1 Deposited (float euros) decodes to v2 (cents, currency); the row stays v1."""
    store = open_store("memory://")
    codec = Codec(EventRegistry(EVENTS), make_upcasters())
    old = NewEvent(
        event_id=uuid.uuid4(), type=Deposited.type_name, schema_version=1, data=b'{"amount": 12.5}'
    )
    store.append("account-1", [codec.encode(OPENED), old])
    handler = CommandHandler(store, bank, codec=codec)
    assert handler.load("account-1").state.balance_cents == 1250
    stored = list(store.read_stream("account-1"))[1]
    assert codec.decode(stored) == Deposited(amount_cents=1250, currency="EUR")
    assert (stored.schema_version, bytes(stored.data)) == (1, b'{"amount": 12.5}')
