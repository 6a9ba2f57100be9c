"""The account deletion example: refused while money is left or once deleted."""

from __future__ import annotations

import pytest

from histoire import CommandHandler, InvalidCommandError, open_store
from histoire.examples.bank import (
    AccountClosed,
    AccountOpened,
    Deposit,
    Deposited,
    OpenAccount,
    Withdraw,
    Withdrawn,
)
from histoire.examples.deletion import (
    ALREADY_DELETED,
    BALANCE_NOT_ZERO,
    AccountDeleted,
    AccountDeletionRefused,
    AccountEvent,
    DeleteAccount,
    make_decider,
)
from histoire.testing import given

deletion = make_decider()
OPENED = AccountOpened(owner="ada", currency="EUR")
FUNDED: list[AccountEvent] = [OPENED, Deposited(amount_cents=700, currency="EUR")]
CLOSED: list[AccountEvent] = [OPENED, AccountClosed()]
DELETED: list[AccountEvent] = [OPENED, AccountDeleted()]


def test_deleting_an_account_with_money_left_is_refused_with_the_balance() -> None:
    """DeleteAccount with a non-zero balance gives AccountDeletionRefused, balance included."""
    state = (
        given(deletion, FUNDED)
        .when(DeleteAccount())
        .then([AccountDeletionRefused(reason=BALANCE_NOT_ZERO, balance_cents=700)])
    )
    assert not state.deleted


def test_deleting_an_empty_account_deletes_it() -> None:
    """DeleteAccount with a zero balance gives AccountDeleted with the customer's reason."""
    history: list[AccountEvent] = [*FUNDED, Withdrawn(amount_cents=700)]
    state = (
        given(deletion, history)
        .when(DeleteAccount(reason="moving abroad"))
        .then([AccountDeleted(reason="moving abroad")])
    )
    assert state.deleted


def test_a_closed_account_can_be_deleted() -> None:
    """A closed account (balance zero) can be deleted."""
    given(deletion, CLOSED).when(DeleteAccount()).then([AccountDeleted()])


def test_deleting_twice_is_refused() -> None:
    """DeleteAccount on a deleted account gives AccountDeletionRefused: already deleted."""
    given(deletion, DELETED).when(DeleteAccount()).then(
        [AccountDeletionRefused(reason=ALREADY_DELETED, balance_cents=0)]
    )


def test_a_refused_deletion_changes_nothing() -> None:
    """After a refused deletion, the account takes deposits as before."""
    history: list[AccountEvent] = [
        *FUNDED,
        AccountDeletionRefused(reason=BALANCE_NOT_ZERO, balance_cents=700),
    ]
    state = (
        given(deletion, history)
        .when(Deposit(amount_cents=1))
        .then([Deposited(amount_cents=1, currency="EUR")])
    )
    assert state.account.balance_cents == 701


def test_bank_commands_go_to_the_bank_decider() -> None:
    """Bank commands on a live account are decided by the bank's rules."""
    given(deletion).when(OpenAccount(owner="ada")).then([OPENED])


def test_deleting_an_account_that_does_not_exist_is_malformed() -> None:
    """DeleteAccount on an empty stream raises InvalidCommandError."""
    given(deletion).when(DeleteAccount()).then_raises(InvalidCommandError, "does not exist")


@pytest.mark.parametrize("command", [Deposit(amount_cents=1), Withdraw(amount_cents=1)])
def test_a_deleted_account_takes_no_more_bank_commands(command: Deposit | Withdraw) -> None:
    """Bank commands on a deleted account raise InvalidCommandError: nothing is stored."""
    given(deletion, DELETED).when(command).then_raises(InvalidCommandError, "deleted")


def test_the_whole_history_stays_in_the_stream_after_deletion() -> None:
    """Deletion is one more event: every earlier event is still in the stream."""
    store = open_store("memory://")
    handler = CommandHandler(store, deletion)
    handler.handle("account-7", OpenAccount(owner="ada"))
    handler.handle("account-7", Deposit(amount_cents=100))
    handler.handle("account-7", DeleteAccount())
    handler.handle("account-7", Withdraw(amount_cents=100))
    handler.handle("account-7", DeleteAccount())
    types = [r.type for r in store.read_stream("account-7")]
    assert types == [
        "bank.AccountOpened",
        "bank.Deposited",
        "bank.AccountDeletionRefused",
        "bank.Withdrawn",
        "bank.AccountDeleted",
    ]
    assert handler.load("account-7").state.deleted
