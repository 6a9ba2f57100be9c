"""The fields of a stored event as read back, checked: a row edited behind
histoire's back is named, it never crashes the code reading it.

histoire writes every field of a row itself, so a value of another kind (text
where an integer was written, an id of the wrong length) means that someone
edited the row, or that the file is damaged. RecordedEvent converts its raw
fields lazily through these functions, which raise CorruptEventError naming the
row and the field; `problems` lists every bad field of a row, for `verify` and
the commands that show rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from histoire.core.errors import CorruptEventError, InvalidStreamIdError
from histoire.core.streams import MAX_TYPE_LENGTH, name_problem, validate_stream_id

if TYPE_CHECKING:
    from histoire.core.recorded import RecordedEvent

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PLAUSIBLE_SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""A store records the time of each append from its clock: an event recorded
before this was written under a wrong clock, or edited."""

_MAX_MICROSECONDS = (dt.datetime.max.replace(tzinfo=dt.UTC) - EPOCH) // dt.timedelta(microseconds=1)
_BYTES = (bytes, bytearray, memoryview)
_json_decode = msgspec.json.decode

UNDECODABLE: tuple[type[Exception], ...] = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    RecursionError,
)
"""What decoding bytes from outside may raise: not JSON, not of the expected shape, or
nested deeper than msgspec follows (it raises RecursionError there, which must not
escape as a crash: a stored payload or a broker message is input like any other)."""


def sql_kind(value: object) -> str:
    """The kind of a stored value, in SQL's words (`integer`, `text`, `blob`...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "text"
    if isinstance(value, _BYTES):
        return "blob"
    return type(value).__name__


def shown(value: object, limit: int = 60) -> str:
    """A stored value as a person reads it: its repr, cut short, and its kind."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytearray | memoryview):
        value = bytes(value)
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({sql_kind(value)})"


def corrupt(record: RecordedEvent, field: str, value: object, reason: str) -> CorruptEventError:
    """The error for `field` of `record` holding `value`; `reason` says what was expected."""
    return CorruptEventError(
        position=record.position,
        stream_id=record.stream_id,
        version=record.version,
        field=field,
        value=value,
        reason=f"{field} is {shown(value)}, {reason}",
    )


def to_uuid(record: RecordedEvent, field: str, raw: object) -> uuid.UUID:
    """A stored id (16 raw bytes, or a UUID already) as a UUID."""
    if isinstance(raw, uuid.UUID):
        return raw
    if isinstance(raw, _BYTES) and len(raw) == 16:
        return uuid.UUID(bytes=bytes(raw))
    raise corrupt(record, field, raw, "not a 16-byte UUID")


def to_datetime(record: RecordedEvent, raw: object) -> dt.datetime:
    """A stored time (microseconds since the Unix epoch, or a datetime) as a UTC datetime."""
    if isinstance(raw, dt.datetime) and raw.tzinfo is not None:
        return raw
    if type(raw) is not int:
        raise corrupt(record, "recorded_at", raw, "not microseconds since 1970 (integer)")
    if not 0 <= raw <= _MAX_MICROSECONDS:
        raise corrupt(record, "recorded_at", raw, "out of the range of dates (1970 to 9999)")
    return EPOCH + dt.timedelta(microseconds=raw)


def to_metadata(record: RecordedEvent, raw: object) -> Mapping[str, Any]:
    """Stored metadata (JSON bytes or text, or a mapping already) as a mapping."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str | bytes | bytearray | memoryview):
        try:
            decoded = _json_decode(raw)
        except UNDECODABLE as exc:
            raise corrupt(record, "metadata", raw, f"not a JSON object ({exc})") from exc
        if isinstance(decoded, dict):
            return decoded
    raise corrupt(record, "metadata", raw, "not a JSON object")


def problems(record: RecordedEvent, *, now: dt.datetime | None = None) -> list[CorruptEventError]:
    """Every field of `record` that holds a value histoire never writes.

    With `now`, a time recorded more than a day after it is a problem too (a
    wrong clock, or an edit). The payload is checked to be bytes, not to be
    JSON: decoding it is the codec's job.
    """
    found: list[CorruptEventError] = []
    checks: list[Callable[[], object]] = [
        lambda: check_stream_id(record),
        lambda: check_count(record, "position"),
        lambda: check_count(record, "version"),
        lambda: check_count(record, "schema_version"),
        lambda: check_count(record, "commit", low=0),
        lambda: _check_type(record),
        lambda: _check_data(record),
        # The lazy properties convert, and raise CorruptEventError on what they cannot.
        lambda: record.event_id,
        lambda: record.causation_id,
        lambda: record.correlation_id,
        lambda: record.metadata,
        lambda: _check_recorded_at(record, now),
    ]
    for check in checks:
        try:
            check()
        except CorruptEventError as problem:
            found.append(problem)
    return found


def check_stream_id(record: RecordedEvent) -> str:
    """The record's stream id, or CorruptEventError if it is not a valid one."""
    try:
        return validate_stream_id(record.stream_id)
    except InvalidStreamIdError as exc:
        raise corrupt(
            record, "stream_id", record.stream_id, f"not a stream id ({exc.reason})"
        ) from None


def check_count(record: RecordedEvent, field: str, *, low: int = 1) -> int:
    """The record's `field` (a version, a position), or CorruptEventError if not an int >= low."""
    value = getattr(record, field)
    if type(value) is not int or value < low:
        raise corrupt(record, field, value, f"not an integer >= {low}")
    return value


def _check_type(record: RecordedEvent) -> None:
    if not isinstance(record.type, str) or not record.type:
        raise corrupt(record, "type", record.type, "not a type name (non-empty text)")
    reason = name_problem(record.type, MAX_TYPE_LENGTH)
    if reason:
        raise corrupt(record, "type", record.type, f"not a type name histoire writes: it {reason}")


def _check_data(record: RecordedEvent) -> None:
    if not isinstance(record.data, str | bytes | bytearray | memoryview):
        raise corrupt(record, "data", record.data, "not JSON bytes")


def _check_recorded_at(record: RecordedEvent, now: dt.datetime | None) -> None:
    moment = record.recorded_at
    if moment < PLAUSIBLE_SINCE:
        raise corrupt(
            record, "recorded_at", moment, "before 2000: written under a wrong clock, or edited"
        )
    if now is not None and moment > now + dt.timedelta(days=1):
        raise corrupt(
            record, "recorded_at", moment, "in the future: written under a wrong clock, or edited"
        )


def payload_json(record: RecordedEvent) -> tuple[Any, str | None]:
    """The payload decoded as plain JSON, or (the stored value, why it is not JSON)."""
    raw = record.data
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, str | bytes):
        return raw, f"data is {shown(raw)}, not JSON bytes"
    try:
        return _json_decode(raw), None
    except UNDECODABLE as exc:
        text = raw if isinstance(raw, str) else raw.decode(errors="replace")
        return text, f"data is not valid JSON ({exc})"
