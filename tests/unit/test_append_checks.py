"""An append's checks with the event types a store remembers as valid: pure, no store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from histoire import EventTooLargeError, InvalidEnvelopeError, InvalidInputError, NewEvent
from histoire.store.checks import validate_append


def event(**change: Any) -> NewEvent:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "type": "bank.Deposited",
        "schema_version": 1,
        "data": b"{}",
    }
    return NewEvent(**{**fields, **change})


def test_a_type_found_valid_is_remembered() -> None:
    """The types of an accepted append are added to the caller's set; an invalid one is not."""
    good: set[str] = set()
    validate_append("account-1", [event(), event(type="bank.Opened")], 0, 100, good)
    assert good == {"bank.Deposited", "bank.Opened"}
    with pytest.raises(InvalidEnvelopeError):
        validate_append("account-1", [event(type=" bad")], 0, 100, good)
    assert good == {"bank.Deposited", "bank.Opened"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"schema_version": 0}, InvalidEnvelopeError),
        ({"schema_version": True}, InvalidEnvelopeError),
        ({"event_id": "not a uuid"}, InvalidEnvelopeError),
        ({"causation_id": 7}, InvalidEnvelopeError),
        ({"correlation_id": b"0" * 16}, InvalidEnvelopeError),
        ({"data": "{}"}, InvalidEnvelopeError),
        ({"data": b"{}" * 51}, EventTooLargeError),
        ({"metadata": {"x": "y" * 100}}, EventTooLargeError),
        ({"metadata": [1]}, InvalidEnvelopeError),
        ({"type": ["bank.Deposited"]}, InvalidEnvelopeError),
    ],
)
def test_an_event_of_a_known_type_is_still_checked_whole(
    change: dict[str, Any], error: type[InvalidInputError]
) -> None:
    """A remembered type skips only the check of the type's name: every other field of
    the event is checked as before."""
    good = {"bank.Deposited"}
    with pytest.raises(error):
        validate_append("account-1", [event(**change)], 0, 100, good)


def test_the_remembered_types_are_bounded() -> None:
    """A set grown past its bound starts again, so that a flood of names does not grow it."""
    good = {f"bank.Type{i}" for i in range(5000)}
    validate_append("account-1", [event()], 0, 100, good)
    assert good == {"bank.Deposited"}
