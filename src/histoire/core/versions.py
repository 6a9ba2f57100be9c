"""Expected versions: the small closed type an append is checked against."""

from __future__ import annotations

import enum
from typing import Final

from histoire.core.errors import ConcurrencyError, InvalidExpectedVersionError


class StreamState(enum.Enum):
    """Expected versions that are not a number."""

    ANY = "any"
    """Append whatever the stream's version."""
    NO_STREAM = "no_stream"
    """The stream must not exist yet (version 0)."""
    STREAM_EXISTS = "stream_exists"
    """The stream must hold at least one event."""

    def __str__(self) -> str:
        return self.name


ANY: Final = StreamState.ANY
NO_STREAM: Final = StreamState.NO_STREAM
STREAM_EXISTS: Final = StreamState.STREAM_EXISTS

ExpectedVersion = StreamState | int
"""ANY, NO_STREAM, STREAM_EXISTS, or the exact number of events in the stream."""


def validate_expected_version(expected: object) -> ExpectedVersion:
    """Return `expected` if it is a valid expected version, else raise."""
    if isinstance(expected, StreamState):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise InvalidExpectedVersionError(expected)


def check_expected_version(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    """Raise ConcurrencyError unless a stream at version `actual` meets `expected`."""
    if expected is ANY:
        return
    if expected is NO_STREAM:
        ok = actual == 0
    elif expected is STREAM_EXISTS:
        ok = actual > 0
    else:
        ok = actual == expected
    if not ok:
        raise ConcurrencyError(stream_id, expected, actual)
