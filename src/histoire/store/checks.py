"""Checks every backend runs the same way: argument validation, idempotent replays."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import msgspec

from histoire.core.errors import DuplicateEventError, InvalidInputError
from histoire.core.recorded import AppendResult, NewEvent, RecordedEvent
from histoire.core.streams import validate_stream_id
from histoire.core.versions import ExpectedVersion, validate_expected_version

_encode_metadata = msgspec.json.Encoder().encode

DEFAULT_MAX_EVENT_SIZE = 1024 * 1024


def validate_append(
    stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion
) -> None:
    """Raise InvalidInputError for anything wrong with an append's arguments."""
    validate_stream_id(stream_id)
    validate_expected_version(expected_version)
    if not events:
        raise InvalidInputError(f"append to {stream_id}: no events given")
    seen = set()
    for event in events:
        if not isinstance(event, NewEvent):
            raise InvalidInputError(
                f"append to {stream_id}: expected NewEvent, got {type(event).__qualname__}"
            )
        if event.event_id in seen:
            raise InvalidInputError(
                f"append to {stream_id}: event id {event.event_id} given twice in one append"
            )
        seen.add(event.event_id)
        if not isinstance(event.schema_version, int) or event.schema_version < 1:
            raise InvalidInputError(
                f"append to {stream_id}: schema_version of {event.type} must be an int >= 1"
            )
        if not event.type:
            raise InvalidInputError(f"append to {stream_id}: an event has an empty type")
        _validate_envelope(stream_id, event)


def _validate_envelope(stream_id: str, event: NewEvent) -> None:
    # Checked before the event reaches a backend: in a group commit, a value the
    # driver cannot take would otherwise fail the other callers' appends too.
    if not isinstance(event.event_id, uuid.UUID):
        raise InvalidInputError(f"append to {stream_id}: event_id must be a UUID")
    for name in ("causation_id", "correlation_id"):
        if not isinstance(getattr(event, name), uuid.UUID | None):
            raise InvalidInputError(f"append to {stream_id}: {name} must be a UUID or None")
    if not isinstance(event.data, bytes | bytearray | memoryview):
        raise InvalidInputError(
            f"append to {stream_id}: data of {event.type} must be bytes, "
            f"not {type(event.data).__name__}"
        )
    if not isinstance(event.metadata, Mapping):
        raise InvalidInputError(f"append to {stream_id}: metadata must be a mapping")
    if event.metadata:
        try:
            _encode_metadata(event.metadata)
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            raise InvalidInputError(
                f"append to {stream_id}: metadata of {event.type} cannot be stored as JSON: {exc}"
            ) from exc


def validate_read(batch_size: int, limit: int | None) -> None:
    """Raise InvalidInputError for a batch size below 1 or a negative limit."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be an int >= 1, not {batch_size!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidInputError(f"limit must be None or an int >= 0, not {limit!r}")


def same_content(new: NewEvent, stored: RecordedEvent) -> bool:
    """Whether a stored event is the one `new` would write."""
    return (
        new.type == stored.type
        and new.schema_version == stored.schema_version
        and bytes(new.data) == bytes(stored.data)
        and dict(new.metadata) == dict(stored.metadata)
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
