"""Bank accounts: open, deposit, withdraw, close.

A withdrawal larger than the balance is refused, and the refusal is an event
(`WithdrawalRefused`), stored like any other. Closing an account whose balance
is not zero is refused too (`AccountClosureRefused`). A malformed command (a
negative amount, an operation on an account that does not exist) raises
InvalidCommandError and stores nothing.

`Deposited` evolved: at schema version 1 it held a float amount in euros; at
version 2, integer cents and a currency. `upcasters` brings v1 events to v2 on
read; the stored rows never change.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider, SnapshotPolicy
from histoire.core.errors import InvalidCommandError
from histoire.core.messages import Command, Event

# -- commands ----------------------------------------------------------------


class OpenAccount(Command):
    owner: str
    currency: str = "EUR"


class Deposit(Command):
    amount_cents: int


class Withdraw(Command):
    amount_cents: int


class CloseAccount(Command):
    pass


BankCommand = OpenAccount | Deposit | Withdraw | CloseAccount

# -- events ------------------------------------------------------------------


class AccountOpened(Event):
    type_name: ClassVar[str] = "bank.AccountOpened"
    owner: str
    currency: str


class Deposited(Event):
    type_name: ClassVar[str] = "bank.Deposited"
    schema_version: ClassVar[int] = 2
    amount_cents: int
    currency: str


class Withdrawn(Event):
    type_name: ClassVar[str] = "bank.Withdrawn"
    amount_cents: int


class WithdrawalRefused(Event):
    type_name: ClassVar[str] = "bank.WithdrawalRefused"
    amount_cents: int
    balance_cents: int
    reason: str


class AccountClosed(Event):
    type_name: ClassVar[str] = "bank.AccountClosed"


class AccountClosureRefused(Event):
    type_name: ClassVar[str] = "bank.AccountClosureRefused"
    balance_cents: int
    reason: str


BankEvent = (
    AccountOpened
    | Deposited
    | Withdrawn
    | WithdrawalRefused
    | AccountClosed
    | AccountClosureRefused
)
EVENTS: tuple[type[Event], ...] = (
    AccountOpened,
    Deposited,
    Withdrawn,
    WithdrawalRefused,
    AccountClosed,
    AccountClosureRefused,
)

# -- state -------------------------------------------------------------------


class Account(msgspec.Struct, frozen=True):
    """What the bank knows of an account, folded from its events."""

    opened: bool = False
    closed: bool = False
    owner: str = ""
    currency: str = "EUR"
    balance_cents: int = 0


def initial_state() -> Account:
    return Account()


# -- decisions ---------------------------------------------------------------


def decide(command: BankCommand, account: Account) -> list[BankEvent]:
    if isinstance(command, OpenAccount):
        if account.opened:
            raise InvalidCommandError("the account is already open")
        if not command.owner.strip():
            raise InvalidCommandError("an account needs an owner")
        return [AccountOpened(owner=command.owner, currency=command.currency)]
    if not account.opened:
        raise InvalidCommandError(f"{type(command).__name__}: the account does not exist")
    if account.closed:
        raise InvalidCommandError(f"{type(command).__name__}: the account is closed")
    if isinstance(command, Deposit):
        _check_amount(command.amount_cents)
        return [Deposited(amount_cents=command.amount_cents, currency=account.currency)]
    if isinstance(command, Withdraw):
        _check_amount(command.amount_cents)
        if command.amount_cents > account.balance_cents:
            return [
                WithdrawalRefused(
                    amount_cents=command.amount_cents,
                    balance_cents=account.balance_cents,
                    reason="insufficient funds",
                )
            ]
        return [Withdrawn(amount_cents=command.amount_cents)]
    if isinstance(command, CloseAccount):
        if account.balance_cents != 0:
            return [
                AccountClosureRefused(
                    balance_cents=account.balance_cents, reason="the balance is not zero"
                )
            ]
        return [AccountClosed()]
    raise InvalidCommandError(f"unknown command {command!r}")


def _check_amount(amount_cents: int) -> None:
    if amount_cents <= 0:
        raise InvalidCommandError(f"an amount must be positive, not {amount_cents} cents")


def evolve(account: Account, event: BankEvent) -> Account:
    if isinstance(event, AccountOpened):
        return msgspec.structs.replace(
            account, opened=True, owner=event.owner, currency=event.currency
        )
    if isinstance(event, Deposited):
        return msgspec.structs.replace(
            account, balance_cents=account.balance_cents + event.amount_cents
        )
    if isinstance(event, Withdrawn):
        return msgspec.structs.replace(
            account, balance_cents=account.balance_cents - event.amount_cents
        )
    if isinstance(event, AccountClosed):
        return msgspec.structs.replace(account, closed=True)
    return account  # refusals change nothing


# -- upcasting ---------------------------------------------------------------


def deposited_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 `{"amount": 12.5}` (float euros) to v2 `{"amount_cents": 1250, "currency": "EUR"}`."""
    amount = payload.pop("amount")
    return {**payload, "amount_cents": round(amount * 100), "currency": "EUR"}


def make_upcasters() -> Upcasters:
    """The upcasters of the bank's event history."""
    upcasters = Upcasters()
    upcasters.register(Deposited.type_name, 1, deposited_v1_to_v2)
    return upcasters


def make_decider(snapshot_every: int | None = None) -> Decider[BankCommand, Account, BankEvent]:
    """The bank account decider, snapshotting every `snapshot_every` events if given."""
    return Decider(
        name="bank",
        initial_state=initial_state,
        decide=decide,
        evolve=evolve,
        events=EVENTS,  # type: ignore[arg-type]
        state_type=Account,
        snapshots=SnapshotPolicy(every=snapshot_every),
    )
