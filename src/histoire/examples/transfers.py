"""A bank transfer as a process manager: debit the source, credit the target, refund if refused.

The transfer is a decider over its own stream, `transfer-<id>`. It is started
by a command (`StartTransfer`); then it receives the events its commands
caused on the accounts, and decides the next step:

    TransferStarted   -> Withdraw from the source
    Withdrawn         -> SourceDebited      -> Deposit into the target
    WithdrawalRefused -> TransferRefused    (nothing moved: the end)
    Deposited         -> TransferCompleted  (the end), or after a refund: TransferRefunded
    the Deposit refused (a closed or unknown account)
                      -> CreditRefused      -> Deposit back into the source

Money is never created nor lost: a debited amount is either credited to the
target or refunded to the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import msgspec

from histoire.app.reactions.definition import Reaction
from histoire.app.reactions.process import CommandRejected, Send, process_manager
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError
from histoire.core.messages import Command, Event
from histoire.examples import bank

CATEGORY = "transfer"


class StartTransfer(Command):
    source: str
    target: str
    amount_cents: int


class TransferStarted(Event):
    type_name: ClassVar[str] = "transfers.TransferStarted"
    source: str
    target: str
    amount_cents: int


class SourceDebited(Event):
    type_name: ClassVar[str] = "transfers.SourceDebited"
    target: str
    amount_cents: int


class TransferCompleted(Event):
    type_name: ClassVar[str] = "transfers.TransferCompleted"


class TransferRefused(Event):
    type_name: ClassVar[str] = "transfers.TransferRefused"
    reason: str


class CreditRefused(Event):
    type_name: ClassVar[str] = "transfers.CreditRefused"
    source: str
    amount_cents: int
    reason: str


class TransferRefunded(Event):
    type_name: ClassVar[str] = "transfers.TransferRefunded"


EVENTS: tuple[type[Event], ...] = (
    TransferStarted,
    SourceDebited,
    TransferCompleted,
    TransferRefused,
    CreditRefused,
    TransferRefunded,
)

STAGES = ("new", "started", "debited", "completed", "refused", "refunding", "refunded")
FINAL = frozenset({"completed", "refused", "refunded"})


class Transfer(msgspec.Struct, frozen=True):
    """Where a transfer stands."""

    stage: str = "new"
    source: str = ""
    target: str = ""
    amount_cents: int = 0


def decide(command: Any, transfer: Transfer) -> list[Event]:
    stage = transfer.stage
    if isinstance(command, StartTransfer):
        if stage != "new":
            raise InvalidCommandError("this transfer has already started")
        if command.amount_cents <= 0 or command.source == command.target:
            raise InvalidCommandError("a transfer moves a positive amount between two accounts")
        return [
            TransferStarted(
                source=command.source, target=command.target, amount_cents=command.amount_cents
            )
        ]
    if isinstance(command, bank.Withdrawn) and stage == "started":
        return [SourceDebited(target=transfer.target, amount_cents=transfer.amount_cents)]
    if isinstance(command, bank.WithdrawalRefused) and stage == "started":
        return [TransferRefused(reason=command.reason)]
    if isinstance(command, CommandRejected) and stage == "started":
        return [TransferRefused(reason=command.reason)]
    if isinstance(command, bank.Deposited) and stage == "debited":
        return [TransferCompleted()]
    if isinstance(command, CommandRejected) and stage == "debited":
        return [
            CreditRefused(
                source=transfer.source, amount_cents=transfer.amount_cents, reason=command.reason
            )
        ]
    if isinstance(command, bank.Deposited) and stage == "refunding":
        return [TransferRefunded()]
    return []  # a late or repeated reply: nothing to decide


def evolve(transfer: Transfer, event: Event) -> Transfer:
    if isinstance(event, TransferStarted):
        return Transfer("started", event.source, event.target, event.amount_cents)
    stage = {
        SourceDebited: "debited",
        TransferCompleted: "completed",
        TransferRefused: "refused",
        CreditRefused: "refunding",
        TransferRefunded: "refunded",
    }.get(type(event))
    return msgspec.structs.replace(transfer, stage=stage) if stage else transfer


def sends(event: Event) -> Iterable[Send]:
    """The commands a step sends to the accounts."""
    if isinstance(event, TransferStarted):
        yield Send("bank", event.source, bank.Withdraw(amount_cents=event.amount_cents))
    elif isinstance(event, SourceDebited):
        yield Send("bank", event.target, bank.Deposit(amount_cents=event.amount_cents))
    elif isinstance(event, CreditRefused):
        yield Send("bank", event.source, bank.Deposit(amount_cents=event.amount_cents))


def make_decider() -> Decider[Any, Transfer, Event]:
    return Decider(
        name="transfers",
        initial_state=Transfer,
        decide=decide,
        evolve=evolve,
        events=EVENTS,
        state_type=Transfer,
    )


def make_process(max_attempts: int = 5, base_delay: float = 1.0) -> Reaction:
    """The reaction that runs transfers: sends their commands, hands them the replies."""
    return process_manager(
        make_decider(),
        sends=sends,
        listens_to=[bank.Withdrawn, bank.WithdrawalRefused, bank.Deposited],
        max_attempts=max_attempts,
        base_delay=base_delay,
    )
