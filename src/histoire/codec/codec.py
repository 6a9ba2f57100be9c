"""The codec: domain events to stored bytes and back, upcasting on the way in."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from histoire.codec.checks import encode_and_read_back
from histoire.codec.ids import new_event_id
from histoire.codec.registry import EventRegistry
from histoire.codec.upcasting import Upcasters
from histoire.core.errors import (
    CodecError,
    EventDecodeError,
    InvalidEventError,
    UnknownEventTypeError,
)
from histoire.core.messages import Event
from histoire.core.recorded import NewEvent, RecordedEvent
from histoire.core.stored_fields import UNDECODABLE

_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode
_DECODED_FIELDS = ("type", "schema_version", "data")


class Codec:
    """Encodes events to JSON bytes and decodes stored ones, upcasting old versions."""

    def __init__(
        self,
        registry: EventRegistry | Iterable[type[Event]],
        upcasters: Upcasters | None = None,
    ) -> None:
        self.registry = registry if isinstance(registry, EventRegistry) else EventRegistry(registry)
        self.upcasters = upcasters if upcasters is not None else Upcasters()
        self._decoders: dict[str, msgspec.json.Decoder[Any]] = {}
        self._fast: dict[tuple[str, int], Callable[[bytes], Event]] = {}
        self._read_back: dict[type, Callable[[bytes], Event]] = {}

    def encode(
        self,
        event: Event,
        *,
        event_id: uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> NewEvent:
        """Turn a domain event into a NewEvent ready to append, checked against its class.

        Raises InvalidEventError if the event would not read back equal from
        its stored bytes (see `histoire.codec.checks`).
        """
        return self.encode_and_read_back(
            event,
            event_id=event_id,
            metadata=metadata,
            causation_id=causation_id,
            correlation_id=correlation_id,
        )[0]

    def encode_and_read_back(
        self,
        event: Event,
        *,
        event_id: uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> tuple[NewEvent, Event]:
        """The NewEvent of `event`, and the event every later read of it will give back.

        The two events are equal, but not always identical (5 given to a float
        field reads back as 5.0): fold the one read back, as loads will.
        """
        cls = type(event)
        decode = self._read_back.get(cls)
        if decode is None:
            decode = self._read_back_decoder(event)
        data, read_back = encode_and_read_back(event, decode, InvalidEventError, cls.type_name)
        new = NewEvent(
            event_id=event_id or new_event_id(),
            type=cls.type_name,
            schema_version=cls.schema_version,
            data=data,
            metadata=dict(metadata) if metadata else {},
            causation_id=causation_id,
            correlation_id=correlation_id,
        )
        return new, read_back

    def _read_back_decoder(self, event: Event) -> Callable[[bytes], Event]:
        """The strict decoder that checks events of this class (first event of a class only)."""
        cls = type(event)
        if not isinstance(event, Event):
            raise CodecError(f"{cls.__qualname__} is not an Event: cannot encode {event!r}")
        if cls.type_name not in self.registry:
            raise UnknownEventTypeError(
                cls.type_name,
                [t.type_name for t in self.registry],
                hint=f"; list {cls.__qualname__} in the decider's events=[...] "
                "or register it in the codec's EventRegistry",
            )
        registered = self.registry.get(cls.type_name)
        if registered is not cls:
            raise InvalidEventError(
                cls.type_name,
                "",
                event,
                f"the type name is registered for {registered.__module__}."
                f"{registered.__qualname__}, not {cls.__module__}.{cls.__qualname__}: "
                "it would read back as the other class",
            )
        decode: Callable[[bytes], Event] = msgspec.json.Decoder(cls).decode
        self._read_back[cls] = decode
        return decode

    def decode(self, recorded: RecordedEvent) -> Event:
        """The domain event of a stored one, upcast to its class's current version."""
        # Hot path of every fold and catch-up: one dict lookup, one msgspec call.
        try:
            fast = self._fast.get((recorded.type, recorded.schema_version))
            if fast is not None:
                try:
                    return fast(recorded.data)
                except UNDECODABLE as exc:
                    raise EventDecodeError(
                        recorded.type,
                        recorded.schema_version,
                        str(exc),
                        stream_id=recorded.stream_id,
                        version=recorded.version,
                    ) from exc
            return self.decode_payload(
                recorded.type,
                recorded.schema_version,
                recorded.data,
                stream_id=recorded.stream_id,
                version=recorded.version,
            )
        except (CodecError, TypeError) as exc:
            # A row edited behind histoire's back (a real number for data, text for
            # a version) is named as such; free on the path that succeeds.
            for problem in recorded.problems():
                if problem.field in _DECODED_FIELDS:
                    raise problem from exc
            raise

    def decode_all(self, records: Iterable[RecordedEvent]) -> list[Event]:
        """The domain events of `records`, in order: `decode` of each, for a batch.

        The decoder is looked up when the type or schema version changes from
        one record to the next, not for each record (a catch-up decodes a batch
        of mostly one or two types). A record that does not decode raises what
        `decode` raises for it.
        """
        decode, get = self.decode, self._fast.get
        events: list[Event] = []
        add = events.append
        kind: object = None
        version: object = None
        fast: Callable[[bytes], Event] | None = None
        for record in records:
            if record.type != kind or record.schema_version != version:
                kind, version = record.type, record.schema_version
                try:
                    fast = get((kind, version))
                except TypeError:  # an unhashable value in a row edited by hand
                    fast = None
            if fast is None:
                add(decode(record))  # upcast, or the error; caches the decoder if any
                fast = get((kind, version))
                continue
            try:
                add(fast(record.data))
            except Exception:
                add(decode(record))  # raises the error naming the record
        return events

    def decoder(self, type_name: str, schema_version: int) -> Callable[[bytes], Event] | None:
        """The decoder of stored payloads of this type and version, if they need no upcast.

        For hot loops over `read_payloads` rows; None means: use `decode_payload`.
        """
        fast = self._fast.get((type_name, schema_version))
        if fast is None and type_name in self.registry:
            cls = self.registry.get(type_name)
            if cls.schema_version == schema_version:
                decoder = self._decoders.get(type_name)
                if decoder is None:
                    decoder = self._decoders[type_name] = msgspec.json.Decoder(cls)
                fast = self._fast[(type_name, schema_version)] = decoder.decode
        return fast

    def decode_payload(
        self, type_name: str, schema_version: int, data: bytes, **where: Any
    ) -> Event:
        """Decode raw stored fields into a domain event."""
        cls = self.registry.get(type_name)
        current = cls.schema_version
        try:
            fast = self.decoder(type_name, schema_version)
            if fast is not None:
                return fast(data)
            payload = _decode_any(data)
            if not isinstance(payload, dict):
                raise EventDecodeError(
                    type_name, schema_version, "payload is not an object", **where
                )
            payload = self.upcasters.upcast(type_name, payload, schema_version, current)
            upcast: Event = msgspec.convert(payload, cls)
            return upcast
        except UNDECODABLE as exc:
            raise EventDecodeError(type_name, schema_version, str(exc), **where) from exc
