"""Checks every backend runs the same way: argument validation, idempotent replays."""

from __future__ import annotations

from collections.abc import Sequence

from histoire.core.errors import DuplicateEventError, InvalidInputError
from histoire.core.recorded import AppendResult, NewEvent, RecordedEvent
from histoire.core.streams import validate_stream_id
from histoire.core.versions import ExpectedVersion, validate_expected_version


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
