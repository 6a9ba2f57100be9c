"""Typed parameters of the appends, sent in PostgreSQL's binary format.

psycopg adapts a plain list by inspecting its elements on every call, which
cost more than the rest of an append's client-side work. These lists say
their element type up front and encode themselves in one pass; the server
receives them as ready-made uuid[], text[], integer[], bytea[] and jsonb[]
(append_events). `JsonbBytes` is one jsonb value already encoded as JSON
(append_event's metadata). Independent of the I/O style: register `DUMPERS`
on any psycopg context.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from psycopg.adapt import Dumper
from psycopg.pq import Format

_HEADER = struct.Struct(">iiiii")  # dimensions, has nulls, element oid, length, lower bound
_NULL = b"\xff\xff\xff\xff"
_INT4 = struct.Struct(">ii")  # element length (4), value


def _binary_array(items: list[Any], element_oid: int, encode: Callable[[Any], bytes]) -> bytes:
    parts = []
    has_null = 0
    for item in items:
        if item is None:
            parts.append(_NULL)
            has_null = 1
        else:
            value = encode(item)
            parts.append(len(value).to_bytes(4, "big"))
            parts.append(value)
    return _HEADER.pack(1, has_null, element_oid, len(items), 1) + b"".join(parts)


class UuidArray(list[uuid.UUID | None]):
    """A uuid[] parameter (None elements are NULL)."""


class TextArray(list[str]):
    """A text[] parameter."""


class IntArray(list[int]):
    """An integer[] parameter."""


class ByteaArray(list[bytes]):
    """A bytea[] parameter."""


class JsonbArray(list[bytes]):
    """A jsonb[] parameter, each element JSON text already encoded as UTF-8 bytes."""


class JsonbBytes(bytes):
    """A jsonb parameter: JSON text already encoded as UTF-8 bytes."""


class _ArrayDumper(Dumper):
    format = Format.BINARY
    element_oid: ClassVar[int]

    def encode(self, item: Any) -> bytes:
        raise NotImplementedError

    def dump(self, obj: Any) -> bytes:
        return _binary_array(obj, self.element_oid, self.encode)


class _UuidArrayDumper(_ArrayDumper):
    oid, element_oid = 2951, 2950

    def encode(self, item: uuid.UUID) -> bytes:
        return item.bytes


class _TextArrayDumper(_ArrayDumper):
    oid, element_oid = 1009, 25

    def encode(self, item: str) -> bytes:
        return item.encode()


class _IntArrayDumper(_ArrayDumper):
    oid, element_oid = 1007, 23

    def dump(self, obj: Any) -> bytes:
        body = b"".join(_INT4.pack(4, item) for item in obj)
        return _HEADER.pack(1, 0, self.element_oid, len(obj), 1) + body


class _ByteaArrayDumper(_ArrayDumper):
    oid, element_oid = 1001, 17

    def encode(self, item: bytes) -> bytes:
        return bytes(item)


class _JsonbArrayDumper(_ArrayDumper):
    oid, element_oid = 3807, 3802

    def encode(self, item: bytes) -> bytes:
        return b"\x01" + item  # jsonb's binary format: a version byte, then the JSON text


class _JsonbBytesDumper(Dumper):
    format = Format.BINARY
    oid = 3802

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj  # jsonb's binary format: a version byte, then the JSON text


DUMPERS: tuple[tuple[type, type[Dumper]], ...] = (
    (UuidArray, _UuidArrayDumper),
    (TextArray, _TextArrayDumper),
    (IntArray, _IntArrayDumper),
    (ByteaArray, _ByteaArrayDumper),
    (JsonbArray, _JsonbArrayDumper),
    (JsonbBytes, _JsonbBytesDumper),
)
"""(parameter class, its dumper) pairs to register on a psycopg adapters map."""
