"""Events and commands: typed, immutable, with a stable type name and a schema version."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest

from histoire import Command, Event


class Opened(Event):
    owner: str


class Renamed(Event):
    type_name: ClassVar[str] = "bank.Renamed"
    schema_version: ClassVar[int] = 3
    name: str


class SpecialRenamed(Renamed):
    reason: str


def test_the_type_name_defaults_to_the_class_name() -> None:
    """An event class without a type_name is stored under its class name."""
    assert Opened.type_name == "Opened"
    assert Opened(owner="ada").type_name == "Opened"


def test_a_declared_type_name_and_schema_version_are_kept() -> None:
    """type_name and schema_version set as class variables are used as given."""
    assert (Renamed.type_name, Renamed.schema_version) == ("bank.Renamed", 3)


def test_the_schema_version_defaults_to_1() -> None:
    """An event class without a schema_version is at version 1."""
    assert Opened.schema_version == 1


def test_a_subclass_gets_its_own_type_name_and_version() -> None:
    """A subclass of an event class does not inherit its parent's type name or version."""
    assert (SpecialRenamed.type_name, SpecialRenamed.schema_version) == ("SpecialRenamed", 1)
    assert Renamed.type_name == "bank.Renamed"


@pytest.mark.parametrize("version", [0, -1, True, "2", 1.0, None])
def test_an_invalid_schema_version_is_refused_when_the_class_is_made(version: Any) -> None:
    """schema_version must be an int >= 1 (not a bool): checked at class creation."""
    with pytest.raises(TypeError, match="schema_version"):

        class Bad(Event):
            schema_version: ClassVar[int] = version


@pytest.mark.parametrize("name", ["", 42, None])
def test_an_invalid_type_name_is_refused_when_the_class_is_made(name: Any) -> None:
    """type_name must be a non-empty str."""
    with pytest.raises(TypeError, match="type_name"):

        class Bad(Event):
            type_name: ClassVar[str] = name


def test_events_are_immutable() -> None:
    """Assigning to a field of an event fails."""
    event = Opened(owner="ada")
    with pytest.raises(AttributeError):
        event.owner = "eve"  # type: ignore[misc]


def test_events_take_keyword_arguments_only() -> None:
    """Fields are passed by name, so that adding one never shifts the others."""
    with pytest.raises(TypeError):
        Opened("ada")  # type: ignore[misc]


def test_events_compare_by_value() -> None:
    """Two events with the same fields are equal and hash alike."""
    assert Opened(owner="ada") == Opened(owner="ada")
    assert Opened(owner="ada") != Opened(owner="eve")
    assert hash(Opened(owner="ada")) == hash(Opened(owner="ada"))


def test_type_name_and_schema_version_are_not_encoded_as_fields() -> None:
    """The class variables stay out of the payload; only fields are encoded."""
    assert msgspec.json.decode(msgspec.json.encode(Renamed(name="x"))) == {"name": "x"}


def test_a_required_field_may_follow_an_optional_one() -> None:
    """Keyword-only fields may be declared in any order, defaults first or not."""

    class Moved(Event):
        note: str = ""
        to: str

    assert Moved(to="Paris") == Moved(note="", to="Paris")


def test_commands_are_immutable_and_keyword_only() -> None:
    """Commands are frozen and keyword-only, like events."""

    class Deposit(Command):
        amount_cents: int

    command = Deposit(amount_cents=5)
    with pytest.raises(AttributeError):
        command.amount_cents = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        Deposit(5)  # type: ignore[misc]
