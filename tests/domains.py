"""Small domains the tests share: the README's library, and a cargo voyage with richer types.

The library is the README's decider as a user would write it. The cargo voyage
has the field types users get wrong: an int, a float, an enum, a tuple, a
nested struct, an optional. Its commands are plain dataclasses, so that nothing
checks them: whatever a caller puts in them reaches the events unchanged.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, ClassVar

import msgspec

from histoire import Command, Decider, Event, InvalidCommandError

# -- the README's library -------------------------------------------------------------


class Borrow(Command):
    member: str


class GiveBack(Command):
    pass


class Borrowed(Event):
    type_name: ClassVar[str] = "library.Borrowed"
    member: str


class Returned(Event):
    type_name: ClassVar[str] = "library.Returned"


class BorrowRefused(Event):
    type_name: ClassVar[str] = "library.BorrowRefused"
    member: str
    reason: str


class Book(msgspec.Struct, frozen=True):
    borrower: str | None = None
    times_borrowed: int = 0


def decide_library(command: Borrow | GiveBack, book: Book) -> list[Event]:
    if isinstance(command, Borrow):
        if book.borrower is not None:
            return [BorrowRefused(member=command.member, reason=f"borrowed by {book.borrower}")]
        return [Borrowed(member=command.member)]
    if book.borrower is None:
        raise InvalidCommandError("the book is not borrowed")
    return [Returned()]


def evolve_library(book: Book, event: Event) -> Book:
    if isinstance(event, Borrowed):
        return Book(borrower=event.member, times_borrowed=book.times_borrowed + 1)
    if isinstance(event, Returned):
        return Book(borrower=None, times_borrowed=book.times_borrowed)
    return book


library = Decider(
    name="library",
    initial_state=Book,
    decide=decide_library,
    evolve=evolve_library,
    events=[Borrowed, Returned, BorrowRefused],
    state_type=Book,
)

# -- a cargo voyage ---------------------------------------------------------------------


class Port(enum.Enum):
    TOKYO = "TOKYO"
    ROTTERDAM = "ROTTERDAM"


class Stop(msgspec.Struct, frozen=True):
    port: Port
    days: int


class Routed(Event):
    type_name: ClassVar[str] = "cargo.Routed"
    legs: tuple[str, ...]
    port: Port
    quantity: int
    weight_kg: float
    stop: Stop | None = None


@dataclasses.dataclass(frozen=True)
class Route:
    """A command nothing checks (not a histoire Command): its fields go into Routed as given."""

    legs: Any = ("V1",)
    port: Any = Port.TOKYO
    quantity: Any = 1
    weight_kg: Any = 1.5
    stop: Any = None


class Voyage(msgspec.Struct, frozen=True):
    """Where the cargo goes now (the latest route wins) and what it carried in all."""

    legs: tuple[str, ...] = ()
    port: Port | None = None
    quantity: int = 0
    weight_kg: float = 0.0
    stops: tuple[Stop, ...] = ()


def decide_cargo(command: Route, voyage: Voyage) -> list[Routed]:
    return [
        Routed(
            legs=command.legs,
            port=command.port,
            quantity=command.quantity,
            weight_kg=command.weight_kg,
            stop=command.stop,
        )
    ]


def evolve_cargo(voyage: Voyage, event: Routed) -> Voyage:
    stops = (*voyage.stops, event.stop) if event.stop is not None else voyage.stops
    return Voyage(
        legs=event.legs,
        port=event.port,
        quantity=voyage.quantity + event.quantity,
        weight_kg=voyage.weight_kg + event.weight_kg,
        stops=stops,
    )


cargo = Decider(
    name="cargo",
    initial_state=Voyage,
    decide=decide_cargo,
    evolve=evolve_cargo,
    events=[Routed],
    state_type=Voyage,
)


def two_bank_accounts(store: Any) -> None:
    """Write two accounts of three events each (opened by ada, +500, -100) through histoire."""
    from histoire import CommandHandler
    from histoire.examples import bank

    accounts = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    for account in ("account-1", "account-2"):
        accounts.handle(account, bank.OpenAccount(owner="ada"), metadata={"user": "ada"})
        accounts.handle(account, bank.Deposit(amount_cents=500))
        accounts.handle(account, bank.Withdraw(amount_cents=100))
