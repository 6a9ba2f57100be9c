"""The message envelope: a stored event as one JSON object that any language can read.

Version 1 (`"envelope": 1`), one object per message, UTF-8 JSON::

    {
      "envelope": 1,
      "event_id": "0b9c8f9e-5a0e-4b8e-9d43-8f1d7b3a2c11",
      "stream_id": "account-42",
      "category": "account",
      "version": 3,
      "position": 17,
      "commit": 0,
      "type": "bank.Deposited",
      "schema_version": 1,
      "recorded_at": "2026-11-02T10:15:03.123456Z",
      "data": {"amount_cents": 1250},
      "metadata": {"user": "ada"},
      "causation_id": null,
      "correlation_id": "5d1f3a3e-0c4b-4f5e-8a1c-2b6f0e7d9a10"
    }

`data` is the event's payload exactly as stored (at `schema_version`: a
consumer upcasts it like a reader of the store would); `version` is the
event's place in its stream (1, 2, ...), `position` and `commit` its place in
the global log (`commit` is 0 but on PostgreSQL). Every field is always
present; ids are canonical UUID strings, `recorded_at` is RFC 3339 in UTC.
A later version adds fields or changes meanings under a new `envelope`
number; a reader refuses a number it does not know.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from histoire.core.errors import InvalidMessageError
from histoire.core.recorded import RecordedEvent, build_recorded
from histoire.core.stored_fields import UNDECODABLE

ENVELOPE_VERSION = 1
"""The envelope version this histoire writes and reads."""

CONTENT_TYPE = "application/vnd.histoire.event+json; envelope=1"
"""The content type brokers that carry one (RabbitMQ) label messages with."""


class _Version(msgspec.Struct):
    envelope: int


class _Envelope(msgspec.Struct, kw_only=True):
    envelope: int
    event_id: uuid.UUID
    stream_id: str
    category: str
    version: int
    position: int
    commit: int
    type: str
    schema_version: int
    recorded_at: dt.datetime
    data: msgspec.Raw
    metadata: dict[str, Any]
    causation_id: uuid.UUID | None
    correlation_id: uuid.UUID | None


_encoder = msgspec.json.Encoder()
_version_decoder = msgspec.json.Decoder(_Version)
_decoder = msgspec.json.Decoder(_Envelope)


def encode(record: RecordedEvent) -> bytes:
    """The envelope of `record`, as JSON bytes."""
    return _encoder.encode(
        _Envelope(
            envelope=ENVELOPE_VERSION,
            event_id=record.event_id,
            stream_id=record.stream_id,
            category=record.category,
            version=record.version,
            position=record.position,
            commit=record.commit,
            type=record.type,
            schema_version=record.schema_version,
            recorded_at=record.recorded_at,
            data=msgspec.Raw(bytes(record.data)),
            metadata=dict(record.metadata),
            causation_id=record.causation_id,
            correlation_id=record.correlation_id,
        )
    )


def decode(message: bytes, where: str = "?") -> RecordedEvent:
    """The event an envelope carries; InvalidMessageError naming `where` if it is not one."""
    try:
        version = _version_decoder.decode(message).envelope
    except UNDECODABLE as exc:
        raise InvalidMessageError(where, f"no envelope version ({exc})") from None
    if version != ENVELOPE_VERSION:
        raise InvalidMessageError(
            where, f"envelope version {version!r}; this histoire reads version {ENVELOPE_VERSION}"
        )
    try:
        env = _decoder.decode(message)
    except UNDECODABLE as exc:
        raise InvalidMessageError(where, str(exc)) from None
    if env.recorded_at.tzinfo is None:
        raise InvalidMessageError(where, "recorded_at has no time zone")
    return build_recorded(  # RecordedEvent's fields, in order
        env.event_id,
        env.stream_id,
        env.version,
        env.position,
        env.recorded_at.astimezone(dt.UTC),
        env.type,
        env.schema_version,
        bytes(env.data),
        env.metadata,
        env.causation_id,
        env.correlation_id,
        env.commit,
    )
