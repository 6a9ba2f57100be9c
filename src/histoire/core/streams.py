"""Stream ids: `category-id`, validated once where they enter."""

from __future__ import annotations

from typing import Final

from histoire.core.errors import InvalidStreamIdError

MAX_STREAM_ID_LENGTH: Final = 200
MAX_TYPE_LENGTH: Final = 200
"""The longest event type name a store keeps."""


def name_problem(name: str, max_length: int) -> str | None:
    """Why `name` cannot name a stream, category or event type (None if it can).

    Names are printable (no control characters, no lone surrogates that UTF-8
    cannot encode), without white space at either end, 1 to `max_length` long.
    """
    if not name:
        return "must not be empty"
    if len(name) > max_length:
        return f"is {len(name)} characters long, over the limit of {max_length}"
    if not name.isprintable():
        if any("\ud800" <= c <= "\udfff" for c in name):
            return "is not valid text: it holds a lone surrogate (as bytes that are not UTF-8 give)"
        return "must not hold control characters"
    if name != name.strip():
        return "must not start or end with white space"
    return None


def validate_stream_id(stream_id: object) -> str:
    """Return `stream_id` if it is a valid stream id, else raise InvalidStreamIdError."""
    # What `name_problem` asks, in one expression for the usual id: a printable str
    # can only start or end with one kind of white space, the space (every other
    # is a control or separator character, which is not printable). A stream id
    # is checked up to three times per command (handler, read, append).
    if (
        type(stream_id) is str
        and 0 < len(stream_id) <= MAX_STREAM_ID_LENGTH
        and stream_id.isprintable()
        and stream_id[0] not in " -"
        and stream_id[-1] != " "
    ):
        return stream_id
    if not isinstance(stream_id, str):
        raise InvalidStreamIdError(stream_id, f"must be a str, not {type(stream_id).__name__}")
    reason = name_problem(stream_id, MAX_STREAM_ID_LENGTH)
    if reason:
        shown = stream_id[:40] + "..." if len(stream_id) > MAX_STREAM_ID_LENGTH else stream_id
        raise InvalidStreamIdError(shown, reason)
    if stream_id.startswith("-"):
        raise InvalidStreamIdError(
            stream_id,
            "has an empty category: a stream id is category-id (account-42), "
            "and nothing comes before its first '-'",
        )
    return stream_id


def category_of(stream_id: str) -> str:
    """The category of a stream: what comes before the first '-' (`account-42` -> `account`)."""
    head, _, _ = stream_id.partition("-")
    return head


def stream_id_for(category: str, entity_id: object) -> str:
    """Build a valid stream id from a category and an entity id."""
    if "-" in category:
        raise InvalidStreamIdError(category, "a category must not contain '-'")
    return validate_stream_id(f"{category}-{entity_id}")
