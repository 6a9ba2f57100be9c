"""Expected versions: the closed type an append is checked against."""

from __future__ import annotations

from typing import Any

import pytest

from histoire import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    ConcurrencyError,
    InvalidExpectedVersionError,
    InvalidInputError,
)
from histoire.core.versions import check_expected_version, validate_expected_version


@pytest.mark.parametrize("expected", [ANY, NO_STREAM, STREAM_EXISTS, 0, 1, 10**12])
def test_valid_expected_versions_are_returned_unchanged(expected: Any) -> None:
    """ANY, NO_STREAM, STREAM_EXISTS and ints >= 0 are valid expected versions."""
    assert validate_expected_version(expected) is expected


@pytest.mark.parametrize("expected", [-1, True, False, "3", 1.0, None, "ANY", [1]])
def test_invalid_expected_versions_are_refused(expected: Any) -> None:
    """Negative ints, bools, strings, floats and None raise InvalidExpectedVersionError."""
    with pytest.raises(InvalidExpectedVersionError) as raised:
        validate_expected_version(expected)
    assert raised.value.expected is expected
    assert isinstance(raised.value, InvalidInputError)
    assert "ANY, NO_STREAM, STREAM_EXISTS" in str(raised.value)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [(ANY, 0), (ANY, 7), (NO_STREAM, 0), (STREAM_EXISTS, 1), (STREAM_EXISTS, 9), (0, 0), (4, 4)],
)
def test_a_met_expected_version_passes(expected: Any, actual: int) -> None:
    """check_expected_version returns quietly when the stream's version meets the expectation."""
    assert check_expected_version("account-1", expected, actual) is None


@pytest.mark.parametrize(
    ("expected", "actual"),
    [(NO_STREAM, 1), (NO_STREAM, 5), (STREAM_EXISTS, 0), (0, 1), (4, 3), (4, 5), (1, 0)],
)
def test_an_unmet_expected_version_conflicts(expected: Any, actual: int) -> None:
    """check_expected_version raises ConcurrencyError carrying stream, expected and actual."""
    with pytest.raises(ConcurrencyError) as raised:
        check_expected_version("account-1", expected, actual)
    error = raised.value
    assert (error.stream_id, error.expected, error.actual) == ("account-1", expected, actual)


def test_a_conflict_says_everything_in_one_line() -> None:
    """The conflict message names the expected version, the stream and its actual version."""
    with pytest.raises(ConcurrencyError) as raised:
        check_expected_version("account-1", NO_STREAM, 5)
    assert (
        str(raised.value)
        == "wrong expected version: NO_STREAM (stream: account-1, stream version: 5)"
    )
    with pytest.raises(ConcurrencyError) as raised:
        check_expected_version("account-1", 3, 5)
    assert str(raised.value) == "wrong expected version: 3 (stream: account-1, stream version: 5)"


def test_stream_states_print_as_their_names() -> None:
    """ANY, NO_STREAM and STREAM_EXISTS print as the names a user types."""
    assert [str(s) for s in (ANY, NO_STREAM, STREAM_EXISTS)] == [
        "ANY",
        "NO_STREAM",
        "STREAM_EXISTS",
    ]
