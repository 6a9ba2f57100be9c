"""Checks of appends every backend runs the same way, and idempotent replays.

Everything is checked before an append reaches a backend: in a group commit
(SQLite), a value the driver cannot take would otherwise fail the other
callers' appends of the same batch. Each refusal names the event's field and
value (InvalidEnvelopeError), never a driver's or Python's own exception.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from histoire.core.append_result import AppendResult
from histoire.core.errors import (
    DuplicateEventError,
    EventTooLargeError,
    InvalidEnvelopeError,
    InvalidInputError,
)
from histoire.core.recorded import NewEvent, RecordedEvent
from histoire.core.streams import MAX_TYPE_LENGTH, name_problem, validate_stream_id
from histoire.core.versions import ExpectedVersion, validate_expected_version
from histoire.store.read_checks import MAX_SCHEMA_VERSION

_encode_metadata = msgspec.json.Encoder().encode
# A digit, then an exponent: how JSON writes floats from 1e16 up (and under 1e-4).
_EXPONENT = re.compile(rb"\de\d")
_EXPONENT_FLOATS = 1e16
_decode_metadata = msgspec.json.Decoder().decode

DEFAULT_MAX_EVENT_SIZE: Final = 1024 * 1024
"""The default bound of one event's data plus metadata (as JSON), in bytes: 1 MiB."""
MAX_METADATA_DEPTH: Final = 32
"""How deeply metadata may nest: deeper, JSON decoders run out of stack on the way back."""
_TOO_DEEP = f"is nested more than {MAX_METADATA_DEPTH} levels deep"


def validate_max_event_size(value: object) -> int:
    """`value` if it can be a store's `max_event_size` (an int >= 1), else InvalidInputError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(
            f"max_event_size must be a number of bytes >= 1, not {type(value).__name__} {value!r}"
        )
    return value


_GOOD_TYPES_KEPT = 4096
"""How many event type names a store's `good_types` keeps at most (then it starts again)."""


def validate_append(
    stream_id: str,
    events: Sequence[NewEvent],
    expected_version: ExpectedVersion,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    good_types: set[str] | None = None,
    *,
    ids: bool = True,
) -> None:
    """Raise InvalidInputError for anything wrong with an append's arguments.

    `good_types`: event type names found valid before, kept by the caller from
    one append to the next (a store's appends use a few types over and over);
    the names this append finds valid are added. `ids=False` leaves out the
    look for an event id given twice (`repeated_id_error`): for a store whose
    unique index on event ids refuses such an append, and which then makes
    that look itself before it says what else is wrong (SQLite: 580
    instructions an event saved on a bulk append that goes through).
    """
    validate_stream_id(stream_id)
    validate_expected_version(expected_version)
    # Lists and tuples first: an ABC's isinstance costs more than the rest.
    if type(events) not in (list, tuple) and (
        not isinstance(events, Sequence) or isinstance(events, str | bytes)
    ):
        raise InvalidInputError(
            f"append to {stream_id}: events must be a list of NewEvent, not {type(events).__name__}"
        )
    if not events:
        raise InvalidInputError(f"append to {stream_id}: no events given")
    if good_types is None:
        good_types = set()  # a bulk append repeats a few types: each is checked once
    elif len(good_types) > _GOOD_TYPES_KEPT:
        good_types.clear()
    for event in events:
        if type(event) is NewEvent:
            # The usual event in one expression (no call): a known type, a plain
            # schema version, ids and no metadata; any other goes through the
            # whole check, which names what is wrong.
            kind = event.type
            schema = event.schema_version
            data = event.data
            causation = event.causation_id
            correlation = event.correlation_id
            if (
                type(kind) is str
                and kind in good_types
                and type(schema) is int
                and 1 <= schema <= MAX_SCHEMA_VERSION
                and type(event.event_id) is uuid.UUID
                and (causation is None or type(causation) is uuid.UUID)
                and (correlation is None or type(correlation) is uuid.UUID)
                and type(data) is bytes
                and len(data) <= max_event_size
                and type(event.metadata) is dict
                and not event.metadata
            ):
                continue
        elif not isinstance(event, NewEvent):
            raise InvalidInputError(
                f"append to {stream_id}: expected NewEvent, got {type(event).__qualname__}"
            )
        _check_envelope(stream_id, event, max_event_size, good_types)
    if ids:
        repeated = repeated_id_error(stream_id, events)
        if repeated is not None:
            raise repeated


def repeated_id_error(stream_id: str, events: Sequence[NewEvent]) -> InvalidInputError | None:
    """The error for an append that gives an event id twice; None if it does not."""
    # By their ints: a UUID's own __hash__ is Python code, its int's is not.
    if len(events) > 1 and len({event.event_id.int for event in events}) != len(events):
        seen = set()
        for event in events:
            if event.event_id in seen:
                return InvalidInputError(
                    f"append to {stream_id}: event id {event.event_id} given twice in one append"
                )
            seen.add(event.event_id)
    return None


def _check_envelope(
    stream_id: str, event: NewEvent, max_event_size: int, good_types: set[str]
) -> None:
    kind = event.type
    if not isinstance(kind, str):  # before the set: a list is not even hashable
        raise InvalidEnvelopeError(stream_id, kind, "type", kind, "is not a str")
    if kind not in good_types:
        reason = name_problem(kind, MAX_TYPE_LENGTH)
        if reason:
            raise InvalidEnvelopeError(stream_id, kind, "type", kind, reason)
        good_types.add(kind)
    schema = event.schema_version
    if (
        type(schema) is not int and (not isinstance(schema, int) or isinstance(schema, bool))
    ) or not 1 <= schema <= MAX_SCHEMA_VERSION:
        raise InvalidEnvelopeError(
            stream_id,
            kind,
            "schema_version",
            schema,
            f"must be an int from 1 to {MAX_SCHEMA_VERSION}",
        )
    if type(event.event_id) is not uuid.UUID and not isinstance(event.event_id, uuid.UUID):
        raise InvalidEnvelopeError(
            stream_id, kind, "event_id", event.event_id, "is not a uuid.UUID"
        )
    causation = event.causation_id
    if causation is not None and type(causation) is not uuid.UUID:
        _check_id(stream_id, kind, "causation_id", causation)
    correlation = event.correlation_id
    if correlation is not None and type(correlation) is not uuid.UUID:
        _check_id(stream_id, kind, "correlation_id", correlation)
    data = event.data
    if type(data) is bytes or isinstance(data, bytes | bytearray):
        size = len(data)
    elif isinstance(data, memoryview):
        size = data.nbytes
    else:
        raise InvalidEnvelopeError(stream_id, kind, "data", data, "is not bytes (encoded JSON)")
    if size > max_event_size:
        raise EventTooLargeError(stream_id, kind, size, max_event_size)
    metadata = event.metadata
    if type(metadata) is dict and not metadata:
        return
    size += _metadata_size(stream_id, kind, metadata)
    if size > max_event_size:
        raise EventTooLargeError(stream_id, kind, size, max_event_size)


def _check_id(stream_id: str, kind: str, name: str, value: object) -> None:
    if not isinstance(value, uuid.UUID):
        raise InvalidEnvelopeError(stream_id, kind, name, value, "is not a uuid.UUID or None")


def _metadata_size(stream_id: str, kind: str, metadata: object) -> int:
    """The size of `metadata` as JSON (0 if empty), once checked storable everywhere."""
    if not isinstance(metadata, Mapping):
        raise InvalidEnvelopeError(stream_id, kind, "metadata", metadata, "is not a mapping")
    if not metadata:
        return 0
    try:
        encoded = _encode_metadata(metadata)
    except RecursionError as exc:
        raise InvalidEnvelopeError(stream_id, kind, "metadata", metadata, _TOO_DEEP) from exc
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise InvalidEnvelopeError(
            stream_id, kind, "metadata", metadata, f"cannot be stored as JSON: {exc}"
        ) from exc
    # The walk costs a few microseconds: only when the JSON text says that a
    # NUL, a deep nesting or a float written with an exponent (7.2e16) may be there.
    if (
        b"\\u0000" in encoded
        or encoded.count(b"{") + encoded.count(b"[") > MAX_METADATA_DEPTH
        or _EXPONENT.search(encoded)
    ):
        reason = _metadata_problem(metadata)
        if reason:
            raise InvalidEnvelopeError(stream_id, kind, "metadata", metadata, reason)
    return len(encoded)


def _metadata_problem(metadata: Mapping[Any, Any]) -> str | None:
    """Why no backend could keep this metadata: nesting too deep, a NUL character, or a
    float that would come back as an integer.

    PostgreSQL's jsonb refuses NUL in strings, and writes a number such as
    7.205759403792237e16 back as 72057594037922370, an int (and not the same
    number); SQLite would keep both: refusing them everywhere keeps the
    backends alike, and an append's result equal to what reads give. Walked
    without recursion.
    """
    stack: list[tuple[object, int]] = [(metadata, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "holds a NUL character (\\x00), which PostgreSQL cannot store"
            continue
        if isinstance(value, float) and abs(value) >= _EXPONENT_FLOATS:
            return (
                f"holds the float {value!r}, which PostgreSQL's jsonb would give back as an "
                "integer (it writes numbers without exponent): store an int or a str"
            )
        if isinstance(value, Mapping):
            children: Any = [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple | set | frozenset):
            children = value
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            return _TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


def json_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata` as every read gives it back: through JSON (no tuples, no int keys)."""
    if not metadata:
        return {}
    result: dict[str, Any] = _decode_metadata(_encode_metadata(metadata))
    return result


def same_content(new: NewEvent, stored: RecordedEvent) -> bool:
    """Whether a stored event is the one `new` would write."""
    return (
        new.type == stored.type
        and new.schema_version == stored.schema_version
        and bytes(new.data) == bytes(stored.data)
        and json_metadata(new.metadata) == dict(stored.metadata)
        and new.causation_id == stored.causation_id
        and new.correlation_id == stored.correlation_id
    )


def replayed_result(
    stream_id: str,
    events: Sequence[NewEvent],
    expected_version: ExpectedVersion,
    stored: Sequence[RecordedEvent | None],
) -> AppendResult:
    """The first result of an append replayed with the same event ids, or an error.

    `stored[i]` is what the store holds under `events[i].event_id` (None if
    nothing). The replay is accepted only if every id is stored, in this stream,
    at consecutive versions, with the same content, and, when the expected
    version is a number, at the place that number asked for.
    """
    for new, old in zip(events, stored, strict=True):
        if old is None:
            raise DuplicateEventError(
                stream_id,
                new.event_id,
                "some events of this append are already stored and some are not",
            )
        if old.stream_id != stream_id:
            raise DuplicateEventError(
                stream_id, new.event_id, f"this event id is already stored in {old.stream_id}"
            )
        if not same_content(new, old):
            raise DuplicateEventError(
                stream_id, new.event_id, "this event id is already stored with other content"
            )
    records = tuple(r for r in stored if r is not None)
    first = records[0].version
    if any(r.version != first + i for i, r in enumerate(records)):
        raise DuplicateEventError(
            stream_id, records[0].event_id, "these event ids are stored in another order"
        )
    if isinstance(expected_version, int) and first != expected_version + 1:
        raise DuplicateEventError(
            stream_id,
            records[0].event_id,
            f"already stored at version {first}, not after version {expected_version}",
        )
    return AppendResult(
        stream_id=stream_id,
        first_version=first,
        last_version=records[-1].version,
        first_position=records[0].position,
        last_position=records[-1].position,
        events=records,
    )
