"""Stream ids: validated where they enter, split into category and entity id."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from histoire import InvalidStreamIdError, category_of, stream_id_for, validate_stream_id
from histoire.core.streams import MAX_STREAM_ID_LENGTH


@pytest.mark.parametrize(
    "stream_id", ["account-42", "a", "cart-7-x", "compte-élodie", "a" * MAX_STREAM_ID_LENGTH, "a b"]
)
def test_valid_stream_ids_are_returned_unchanged(stream_id: str) -> None:
    """Printable ids of 1 to 200 characters with no edge spaces are valid."""
    assert validate_stream_id(stream_id) == stream_id


@pytest.mark.parametrize(
    ("stream_id", "reason"),
    [
        ("", "empty"),
        ("a" * (MAX_STREAM_ID_LENGTH + 1), "201 characters"),
        ("account-\n1", "control characters"),
        ("account-1\x00", "control characters"),
        ("account\t-1", "control characters"),
        (" account-1", "white space"),
        ("-abc", "empty category"),
        ("-", "empty category"),
        ("account-\ud800", "lone surrogate"),
        ("account-1 ", "white space"),
        (42, "must be a str"),
        (None, "must be a str"),
        (b"account-1", "must be a str"),
    ],
)
def test_invalid_stream_ids_are_refused_with_the_reason(stream_id: Any, reason: str) -> None:
    """An invalid stream id raises InvalidStreamIdError saying what is wrong."""
    with pytest.raises(InvalidStreamIdError) as raised:
        validate_stream_id(stream_id)
    assert reason in raised.value.reason
    assert reason in str(raised.value)


def test_a_too_long_stream_id_is_shortened_in_the_error() -> None:
    """The error for a huge stream id does not repeat the whole id."""
    with pytest.raises(InvalidStreamIdError) as raised:
        validate_stream_id("x" * 10_000)
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize(
    ("stream_id", "category"),
    [("account-42", "account"), ("account", "account"), ("cart-7-x", "cart"), ("-7", "")],
)
def test_category_is_what_comes_before_the_first_dash(stream_id: str, category: str) -> None:
    """category_of gives the part of a stream id before its first '-'."""
    assert category_of(stream_id) == category


def test_stream_id_for_joins_category_and_id() -> None:
    """stream_id_for builds `category-id` from any entity id."""
    assert stream_id_for("account", 42) == "account-42"
    assert stream_id_for("cart", "7-b") == "cart-7-b"


def test_stream_id_for_refuses_a_category_with_a_dash() -> None:
    """A category holding '-' would not round-trip through category_of, so it is refused."""
    with pytest.raises(InvalidStreamIdError):
        stream_id_for("bank-account", 1)


def test_stream_id_for_validates_the_result() -> None:
    """An entity id that makes an invalid stream id is refused."""
    with pytest.raises(InvalidStreamIdError):
        stream_id_for("account", "1\n")
    with pytest.raises(InvalidStreamIdError):
        stream_id_for("account", "x" * MAX_STREAM_ID_LENGTH)


categories = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn")),
    min_size=1,
    max_size=20,
).filter(lambda c: "-" not in c and c.isprintable())


@settings(max_examples=50, deadline=None)
@given(category=categories, entity=st.integers(min_value=0) | st.uuids())
def test_the_category_of_a_built_stream_id_is_its_category(category: str, entity: object) -> None:
    """category_of(stream_id_for(c, x)) is c for any category without '-'."""
    assert category_of(stream_id_for(category, entity)) == category
