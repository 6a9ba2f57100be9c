"""What the handler checks before it stores anything: the command, and what decide returned."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import pytest

from histoire import (
    Command,
    CommandHandler,
    InvalidCommandError,
    InvalidDecisionError,
    MalformedCommandError,
    MemoryEventStore,
)

from ..domains import Book, Borrow, Borrowed, library

# -- what decide returns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "shown"),
    [
        (None, "None"),
        ("library.Borrowed", "'library.Borrowed'"),
        ({"member": "ada"}, "{'member': 'ada'}"),
        (42, "42"),
        ([Borrowed(member="ada"), "oops"], "item 1 is 'oops'"),
        ([Borrowed], "item 0 is <class"),
    ],
    ids=["none", "str", "dict", "int", "list-with-a-str", "list-with-a-class"],
)
def test_decide_must_return_events(returned: object, shown: str) -> None:
    """Anything but an event or a list of events raises InvalidDecisionError; nothing stored."""
    decider = dataclasses.replace(library, decide=lambda command, book: returned)
    handler = CommandHandler(MemoryEventStore(), decider)
    with pytest.raises(InvalidDecisionError) as raised:
        handler.handle("book-1", Borrow(member="ada"))
    message = str(raised.value)
    assert "decide must return an event or a list of events" in message
    assert "'library'" in message and shown in message
    assert raised.value.decider == "library"
    assert raised.value.value == returned
    assert handler.store.stream_version("book-1") == 0


@pytest.mark.parametrize(
    "returned",
    [
        lambda: Borrowed(member="ada"),
        lambda: (Borrowed(member="ada"),),
        lambda: (e for e in [Borrowed(member="ada")]),
    ],
    ids=["one-event", "tuple", "generator"],
)
def test_decide_may_return_one_event_or_any_sequence(returned: Callable[[], object]) -> None:
    """One event, a tuple or a generator of events are stored like a list."""
    decider = dataclasses.replace(library, decide=lambda command, book: returned())
    result = CommandHandler(MemoryEventStore(), decider).handle("book-1", Borrow(member="ada"))
    assert result.decided == (Borrowed(member="ada"),)


# -- commands ---------------------------------------------------------------------------------


class Spy:
    """A decide that records the commands it is given."""

    def __init__(self) -> None:
        self.commands: list[Any] = []

    def __call__(self, command: Any, book: Book) -> list[Borrowed]:
        self.commands.append(command)
        return [Borrowed(member="ada")]


def spied() -> tuple[CommandHandler[Any, Book, Any], Spy]:
    spy = Spy()
    return CommandHandler(MemoryEventStore(), dataclasses.replace(library, decide=spy)), spy


def test_a_command_field_of_another_type_is_refused_before_deciding() -> None:
    """Borrow(member=42) raises MalformedCommandError naming the field; decide is not called."""
    handler, spy = spied()
    with pytest.raises(MalformedCommandError) as raised:
        handler.handle("book-1", Borrow(member=42))  # type: ignore[arg-type]
    error = raised.value
    assert isinstance(error, InvalidCommandError)
    assert (error.type_name, error.path, error.value) == ("Borrow", "member", 42)
    assert str(error).startswith("invalid command Borrow: field member = 42: expected `str`")
    assert spy.commands == []
    assert handler.store.stream_version("book-1") == 0


class Ship(Command):
    legs: tuple[str, ...]
    weight_kg: float = 0.0


def test_a_list_for_a_tuple_in_a_command_is_refused() -> None:
    """A command's list given for a tuple field is named with the type it should have."""
    handler, _ = spied()
    with pytest.raises(MalformedCommandError, match=r"field legs = \['V1'\].*tuple.*list"):
        handler.handle("book-1", Ship(legs=["V1"]))  # type: ignore[arg-type]


def test_decide_sees_the_command_as_its_class_declares_it() -> None:
    """5 given for a float field is equal to 5.0: accepted, and decide gets 5.0."""
    handler, spy = spied()
    handler.handle("book-1", Ship(legs=("V1",), weight_kg=5))
    [seen] = spy.commands
    assert seen == Ship(legs=("V1",), weight_kg=5.0)
    assert isinstance(seen.weight_kg, float)


class Clock:
    """A class of the user's own, which JSON cannot carry."""


class Audit(Command):
    clock: Clock
    extra: Any = None
    callback: Callable[[], None] | None = None


def test_a_command_may_carry_values_json_cannot() -> None:
    """Commands are not stored: fields typed with the user's classes or Any take any value."""
    handler, spy = spied()
    command = Audit(clock=Clock(), extra=object(), callback=lambda: None)
    handler.handle("book-1", command)
    assert spy.commands == [command]


def test_plain_commands_are_not_checked() -> None:
    """A command that is not a histoire Command (a dict, a dataclass) reaches decide as is."""
    handler, spy = spied()
    handler.handle("book-1", {"member": 42})
    assert spy.commands == [{"member": 42}]


class Count(Command):
    label: str
    copies: int
    signed: bool = False
    minimum: Annotated[int, msgspec.Meta(ge=1)] = 1


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (Count(label="a", copies=True), "copies"),  # type: ignore[arg-type]
        (Count(label="a", copies=1, signed=1), "signed"),  # type: ignore[arg-type]
        (Count(label=b"a", copies=1), "label"),  # type: ignore[arg-type]
        (Count(label="a", copies=1, minimum=0), "minimum"),
    ],
    ids=["bool-for-int", "int-for-bool", "bytes-for-str", "constraint"],
)
def test_plain_fields_are_still_checked_by_their_exact_type(command: Count, field: str) -> None:
    """A command whose fields are str, int and bool is taken as it is only when each holds
    exactly its type; a bool for an int, an int for a bool, or a constrained field out of
    range is refused as ever."""
    handler, spy = spied()
    with pytest.raises(MalformedCommandError) as raised:
        handler.handle("book-1", command)
    assert raised.value.path == field
    assert spy.commands == []


def test_a_command_of_plain_fields_reaches_decide_equal() -> None:
    """A command of plain str, int and bool fields, each of its exact type, reaches decide."""
    handler, spy = spied()
    handler.handle("book-1", Count(label="a", copies=2, signed=True, minimum=3))
    assert spy.commands == [Count(label="a", copies=2, signed=True, minimum=3)]
