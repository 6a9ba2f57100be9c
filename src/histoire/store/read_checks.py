"""Checks of read arguments every backend runs the same way, before any query.

Versions, positions and batch sizes are 64-bit signed integers in every
database: a larger number would reach the driver and fail there with a raw
OverflowError (SQLite) or give different answers per backend, so it is
refused here with the argument's name.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection
from typing import Final

from histoire.core.errors import InvalidInputError
from histoire.core.recorded import Checkpoint
from histoire.core.streams import (
    MAX_STREAM_ID_LENGTH,
    MAX_TYPE_LENGTH,
    name_problem,
    validate_stream_id,
)
from histoire.store.protocol import Snapshot

MAX_INT64: Final = 2**63 - 1
MAX_SCHEMA_VERSION: Final = 2**31 - 1
"""The largest schema version: PostgreSQL stores it as a 32-bit integer."""


def bounded_int(name: str, value: object, low: int, high: int | None = MAX_INT64) -> int:
    """`value` if it is an int (not a bool) in low..high, else InvalidInputError naming it."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an int, not {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be an int {bounds}, not {value}")
    return value


def validate_read(batch_size: int, limit: int | None) -> None:
    """Raise InvalidInputError for a batch size out of 1..2**63-1 or a negative limit."""
    bounded_int("batch_size", batch_size, 1)
    if limit is not None:
        bounded_int("limit", limit, 0, None)


def validate_stream_read(
    stream_id: str, from_version: int | None, limit: int | None, batch_size: int
) -> None:
    """Raise InvalidInputError for anything wrong with read_stream's arguments."""
    validate_stream_id(stream_id)
    # The usual arguments (a command's load reads its stream) in one test; the
    # calls below name the argument that is wrong, and cost twice as much.
    if (
        type(batch_size) is int
        and 0 < batch_size <= MAX_INT64
        and (from_version is None or (type(from_version) is int and 0 <= from_version <= MAX_INT64))
        and (limit is None or (type(limit) is int and limit >= 0))
    ):
        return
    if from_version is not None:
        bounded_int("from_version", from_version, 0)
    validate_read(batch_size, limit)


def validate_log_read(
    after: object,
    categories: Collection[str] | None,
    types: Collection[str] | None,
    limit: int | None,
    batch_size: int,
) -> tuple[Checkpoint, list[str] | None, list[str] | None]:
    """The checkpoint and filters of a read_log call, checked; InvalidInputError otherwise.

    Filters come back as sorted lists without duplicates (an iterator given
    is read once).
    """
    validate_read(batch_size, limit)
    return (
        validate_checkpoint(after),
        _filter("categories", categories, _category_problem),
        _filter("types", types, _type_problem),
    )


def validate_checkpoint(after: object) -> Checkpoint:
    """`after` as a Checkpoint of two ints in 0..2**63-1, else InvalidInputError."""
    if not isinstance(after, tuple) or len(after) != 2:
        raise InvalidInputError(
            f"a log position is a Checkpoint(commit, position), not {type(after).__name__} "
            f"{after!r}"
        )
    commit = bounded_int("Checkpoint.commit", after[0], 0)
    position = bounded_int("Checkpoint.position", after[1], 0)
    return after if isinstance(after, Checkpoint) else Checkpoint(commit, position)


def _filter(name: str, given: object, problem: Callable[[object], str | None]) -> list[str] | None:
    if given is None:
        return None
    if isinstance(given, str | bytes):
        raise InvalidInputError(
            f"{name} is a collection of names, not the single {type(given).__name__} "
            f"{given!r}: write {name}=[{given!r}]"
        )
    try:
        values = set(given)  # type: ignore[call-overload]
    except TypeError as exc:
        raise InvalidInputError(
            f"{name} must be a collection of str, not {type(given).__name__}"
        ) from exc
    for value in values:
        reason = problem(value)
        if reason:
            raise InvalidInputError(f"{name}: {value!r} {reason}")
    return sorted(values)


def _category_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a str"
    if "-" in value:
        return (
            f"is not a category: a category holds no '-' "
            f"(the category of stream {value} is {value.partition('-')[0]!r})"
        )
    if len(value) >= MAX_STREAM_ID_LENGTH:
        return f"is {len(value)} characters long: no stream id has so long a category"
    # The category of any valid stream id must pass: `ab -1` is one, of category `ab `.
    return name_problem(value + "-", MAX_STREAM_ID_LENGTH)


def _type_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a str"
    return name_problem(value, MAX_TYPE_LENGTH)


def validate_category(category: object) -> None:
    """Raise InvalidInputError unless `category` is None or a possible category name."""
    if category is not None:
        reason = _category_problem(category)
        if reason:
            raise InvalidInputError(f"category {category!r} {reason}")


def validate_event_id(event_id: object) -> None:
    """Raise InvalidInputError unless `event_id` is a uuid.UUID."""
    if not isinstance(event_id, uuid.UUID):
        raise InvalidInputError(
            f"an event id is a uuid.UUID, not {type(event_id).__name__} {event_id!r}"
        )


def wait_timeout(timeout: object) -> float:
    """The seconds wait_for_events may wait: `inf` for None; NaN and non-numbers refused.

    A negative timeout is a deadline already passed: the caller looks once and
    does not wait (a follower computing `deadline - now` may get one).
    """
    if timeout is None:
        return math.inf
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidInputError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if math.isnan(timeout):
        raise InvalidInputError("timeout must be a number of seconds or None, not NaN")
    return max(float(timeout), 0.0)


def validate_snapshot(snapshot: Snapshot) -> None:
    """Raise InvalidInputError for a snapshot no backend could store as given."""
    if not isinstance(snapshot, Snapshot):
        raise InvalidInputError(f"snapshot must be a Snapshot, not {type(snapshot).__name__}")
    validate_stream_id(snapshot.stream_id)
    if not isinstance(snapshot.name, str) or (snapshot.name and name_problem(snapshot.name, 200)):
        raise InvalidInputError(f"snapshot name {snapshot.name!r} is not a printable str")
    bounded_int("snapshot version", snapshot.version, 0)
    bounded_int("snapshot schema_version", snapshot.schema_version, 1, MAX_SCHEMA_VERSION)
    if not isinstance(snapshot.data, bytes | bytearray | memoryview):
        raise InvalidInputError(f"snapshot data must be bytes, not {type(snapshot.data).__name__}")


def validate_snapshot_query(
    stream_id: str, name: str, schema_version: int, max_version: int | None
) -> None:
    """Raise InvalidInputError for load_snapshot arguments out of range."""
    validate_stream_id(stream_id)
    if not isinstance(name, str):
        raise InvalidInputError(f"snapshot name must be a str, not {type(name).__name__}")
    bounded_int("schema_version", schema_version, 0, MAX_INT64)
    if max_version is not None:
        bounded_int("max_version", max_version, 0)
