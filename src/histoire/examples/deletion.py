"""Account deletion: a small decider that extends the bank account with `DeleteAccount`.

Deleting an account is a decision like any other. It is refused, and the
refusal is stored as `AccountDeletionRefused` with its reason, while the
balance is not zero or when the account is already deleted; otherwise the
account is deleted (`AccountDeleted`). Nothing is erased: the account's whole
history stays in its stream, and the deletion is one more event at its end.

The decider works on the same `account-...` streams as `histoire.examples.bank`:
its state wraps the bank's `Account`, it folds the bank's events with the
bank's `evolve`, and it passes bank commands to the bank's `decide` as long as
the account is not deleted. Any command on a deleted account other than
`DeleteAccount` is malformed (InvalidCommandError): nothing is stored.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError
from histoire.core.messages import Command, Event
from histoire.examples import bank

# -- commands ----------------------------------------------------------------


class DeleteAccount(Command):
    reason: str = ""
    """Why the customer asked (free text, kept in the event)."""


AccountCommand = bank.BankCommand | DeleteAccount

# -- events ------------------------------------------------------------------


class AccountDeleted(Event):
    type_name: ClassVar[str] = "bank.AccountDeleted"
    reason: str = ""


class AccountDeletionRefused(Event):
    type_name: ClassVar[str] = "bank.AccountDeletionRefused"
    reason: str
    balance_cents: int


AccountEvent = bank.BankEvent | AccountDeleted | AccountDeletionRefused
EVENTS: tuple[type[Event], ...] = (AccountDeleted, AccountDeletionRefused)
"""The events this decider adds to the bank's."""

BALANCE_NOT_ZERO = "the balance is not zero"
ALREADY_DELETED = "the account is already deleted"

# -- state -------------------------------------------------------------------


class DeletableAccount(msgspec.Struct, frozen=True):
    """A bank account, plus whether it was deleted."""

    account: bank.Account = bank.Account()
    deleted: bool = False


def initial_state() -> DeletableAccount:
    return DeletableAccount()


# -- decisions ---------------------------------------------------------------


def decide(command: AccountCommand, state: DeletableAccount) -> list[AccountEvent]:
    if isinstance(command, DeleteAccount):
        if not state.account.opened:
            raise InvalidCommandError("DeleteAccount: the account does not exist")
        if state.deleted:
            return [AccountDeletionRefused(reason=ALREADY_DELETED, balance_cents=0)]
        if state.account.balance_cents != 0:
            return [
                AccountDeletionRefused(
                    reason=BALANCE_NOT_ZERO, balance_cents=state.account.balance_cents
                )
            ]
        return [AccountDeleted(reason=command.reason)]
    if state.deleted:
        raise InvalidCommandError(f"{type(command).__name__}: the account is deleted")
    decided: list[AccountEvent] = list(bank.decide(command, state.account))
    return decided


def evolve(state: DeletableAccount, event: AccountEvent) -> DeletableAccount:
    if isinstance(event, AccountDeleted):
        return msgspec.structs.replace(state, deleted=True)
    if isinstance(event, AccountDeletionRefused):
        return state  # refusals change nothing
    return msgspec.structs.replace(state, account=bank.evolve(state.account, event))


def make_upcasters() -> Upcasters:
    """The upcasters of account streams: the bank's (deletion events have one version)."""
    return bank.make_upcasters()


def make_decider() -> Decider[AccountCommand, DeletableAccount, AccountEvent]:
    """The account decider with deletion: bank commands plus `DeleteAccount`.

    It takes no snapshots: snapshots are kept per stream and state schema
    version, and the bank decider's snapshots of the same streams hold another
    state type.
    """
    return Decider(
        name="account-deletion",
        initial_state=initial_state,
        decide=decide,
        evolve=evolve,
        events=(*bank.EVENTS, *EVENTS),  # type: ignore[arg-type]
        state_type=DeletableAccount,
    )
