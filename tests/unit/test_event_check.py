"""Nothing malformed is stored: a decided event must read back as an equal event.

msgspec structs do not check their fields on construction, so a decider can
build `Borrowed(member=42)`. Stored, such an event would make its stream
unreadable forever (stored events are immutable). The codec reads each event
back from the bytes it is about to store and refuses one that differs.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any, ClassVar

import pytest

from histoire import (
    Codec,
    CommandHandler,
    Event,
    InvalidEventError,
    InvalidInputError,
    MemoryEventStore,
)

from ..domains import Borrow, Borrowed, GiveBack, Port, Route, Routed, Stop, Voyage, cargo, library


def test_the_readme_library_refuses_a_member_of_the_wrong_type() -> None:
    """Borrow(member=42) is refused before anything is stored, and the stream still loads."""
    books = CommandHandler(MemoryEventStore(), library)
    books.handle("book-1", Borrow(member="ada"))
    books.handle("book-1", GiveBack())
    with pytest.raises(InvalidInputError) as raised:
        books.handle("book-1", Borrow(member=42))  # type: ignore[arg-type]
    assert "Borrow" in str(raised.value)
    assert "member" in str(raised.value) and "42" in str(raised.value)
    assert books.store.stream_version("book-1") == 2
    assert books.load("book-1").state.borrower is None


def test_a_decider_building_an_event_of_the_wrong_type_stores_nothing() -> None:
    """Borrowed(member=42) decided from a well-formed command is refused by the event check."""
    decider = dataclasses.replace(library, decide=lambda command, book: [Borrowed(member=42)])
    books = CommandHandler(MemoryEventStore(), decider)
    with pytest.raises(InvalidEventError) as raised:
        books.handle("book-1", Borrow(member="ada"))
    error = raised.value
    assert (error.type_name, error.path, error.value) == ("library.Borrowed", "member", 42)
    assert "library.Borrowed" in str(error) and "member" in str(error) and "42" in str(error)
    assert books.store.stream_version("book-1") == 0


WRONG = {
    "bool for an int": ({"quantity": True}, "quantity", True),
    "float for an int": ({"quantity": 5.5}, "quantity", 5.5),
    "str for an enum": ({"port": "TOKYO"}, "port", "TOKYO"),
    "list for a tuple": ({"legs": ["V1", "V2"]}, "legs", ["V1", "V2"]),
    "nan in a float": ({"weight_kg": math.nan}, "weight_kg", math.nan),
    "infinity in a float": ({"weight_kg": math.inf}, "weight_kg", math.inf),
    "dict for a struct": ({"stop": {"port": "TOKYO", "days": 3}}, "stop", None),
    "str in a nested int": ({"stop": Stop(port=Port.TOKYO, days="3")}, "stop.days", "3"),
    "object for a str": ({"legs": (object(),)}, "legs", None),
}


@pytest.mark.parametrize(("fields", "path", "value"), WRONG.values(), ids=WRONG.keys())
def test_an_event_of_the_wrong_shape_is_refused(
    fields: dict[str, Any], path: str, value: object
) -> None:
    """A decided event that would not read back equal raises InvalidEventError; nothing stored."""
    handler = CommandHandler(MemoryEventStore(), cargo)
    handler.handle("voyage-1", Route())
    with pytest.raises(InvalidEventError) as raised:
        handler.handle("voyage-1", Route(**fields))
    error = raised.value
    assert isinstance(error, InvalidInputError)
    assert error.type_name == "cargo.Routed"
    assert error.path.startswith(path)
    if value is not None:
        assert error.value == value or (error.value != error.value and value != value)
        assert repr(value) in str(error)
    assert path in str(error)
    assert handler.store.stream_version("voyage-1") == 1
    assert handler.load("voyage-1").version == 1


def test_nan_is_named_in_the_message() -> None:
    """The message says why NaN is refused, rather than 'got null'."""
    handler = CommandHandler(MemoryEventStore(), cargo)
    with pytest.raises(InvalidEventError, match="NaN"):
        handler.handle("voyage-1", Route(weight_kg=math.nan))


def test_an_int_for_a_float_is_stored_and_read_back_as_a_float() -> None:
    """5 for a float field reads back as 5.0, an equal value: it is accepted."""
    handler = CommandHandler(MemoryEventStore(), cargo)
    result = handler.handle("voyage-1", Route(weight_kg=5))
    assert result.state.weight_kg == 5.0
    assert isinstance(result.state.weight_kg, float)
    assert isinstance(result.decided[0].weight_kg, float)
    assert handler.load("voyage-1").state == result.state


def test_the_state_handle_returns_equals_the_state_load_rebuilds() -> None:
    """The state returned by handle() is the one load() folds from the stored events."""
    handler = CommandHandler(MemoryEventStore(), cargo)
    result = handler.handle("voyage-1", Route(legs=("V1", "V2"), port=Port.TOKYO, weight_kg=2))
    loaded = handler.load("voyage-1")
    assert loaded.state == result.state
    assert loaded.state == Voyage(
        legs=("V1", "V2"), port=Port.TOKYO, quantity=1, weight_kg=2.0, stops=()
    )


def test_the_codec_checks_what_it_encodes() -> None:
    """Codec.encode refuses an event that would not read back equal."""
    codec = Codec([Routed])
    good = Routed(legs=("V1",), port=Port.TOKYO, quantity=1, weight_kg=1.0)
    assert codec.encode(good).type == "cargo.Routed"
    bad = Routed(legs=("V1",), port="TOKYO", quantity=1, weight_kg=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as raised:
        codec.encode(bad, event_id=uuid.uuid4())
    assert (raised.value.path, raised.value.value) == ("port", "TOKYO")


def test_an_event_of_another_class_under_a_registered_name_is_refused() -> None:
    """An event whose type name is registered for another class would read back as that class."""

    class Impostor(Event):
        type_name: ClassVar[str] = "library.Borrowed"
        member: str

    with pytest.raises(InvalidEventError, match="registered for"):
        Codec([Borrowed]).encode(Impostor(member="ada"))
