"""Stream ids: `category-id`, validated once where they enter."""

from __future__ import annotations

from typing import Final

from histoire.core.errors import InvalidStreamIdError

MAX_STREAM_ID_LENGTH: Final = 200


def validate_stream_id(stream_id: object) -> str:
    """Return `stream_id` if it is a valid stream id, else raise InvalidStreamIdError."""
    if not isinstance(stream_id, str):
        raise InvalidStreamIdError(stream_id, f"must be a str, not {type(stream_id).__name__}")
    if not stream_id:
        raise InvalidStreamIdError(stream_id, "must not be empty")
    if len(stream_id) > MAX_STREAM_ID_LENGTH:
        raise InvalidStreamIdError(
            stream_id[:40] + "...",
            f"is {len(stream_id)} characters long, over the limit of {MAX_STREAM_ID_LENGTH}",
        )
    if not stream_id.isprintable():
        raise InvalidStreamIdError(stream_id, "must not hold control characters")
    if stream_id != stream_id.strip():
        raise InvalidStreamIdError(stream_id, "must not start or end with white space")
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
