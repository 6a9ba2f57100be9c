"""The application the guarantee suites run: the bank, its transfers, and a ledger.

The ledger's one command posts several events at once, so that a command cut
in the middle by a kill would show as a partly stored command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

from histoire import Application, Command, Decider, Event, EventStore
from histoire.examples import bank, transfers
from histoire.examples.bank_views import balances


class Post(Command):
    """Post one entry per amount, in one command."""

    amounts: list[int]


class Posted(Event):
    type_name: ClassVar[str] = "guarantees.Posted"
    amount: int


class Ledger(msgspec.Struct, frozen=True):
    entries: int = 0
    total: int = 0


def _decide(command: Post, ledger: Ledger) -> list[Posted]:
    return [Posted(amount=amount) for amount in command.amounts]


def _evolve(ledger: Ledger, event: Posted) -> Ledger:
    return Ledger(ledger.entries + 1, ledger.total + event.amount)


def ledger_decider() -> Decider[Any, Ledger, Posted]:
    return Decider(
        name="ledger",
        initial_state=Ledger,
        decide=_decide,
        evolve=_evolve,
        events=(Posted,),
        state_type=Ledger,
    )


def make_app(*, base_delay: float = 0.05) -> Application:
    """The bank, the transfers' process manager, the ledger and the `balances` view."""
    return Application(
        name="guarantees",
        deciders=[bank.make_decider(), transfers.make_decider(), ledger_decider()],
        upcasters=bank.make_upcasters(),
        projections=[balances],
        reactions=[transfers.make_process(base_delay=base_delay)],
    )


def open_accounts(
    store: EventStore, app: Application, accounts: Sequence[str], initial: int = 0
) -> None:
    """Open `accounts`, each with a deposit of `initial` cents if positive."""
    handler = app.handler("bank", store)
    for account in accounts:
        handler.handle(account, bank.OpenAccount(owner=account))
        if initial > 0:
            handler.handle(account, bank.Deposit(amount_cents=initial))
