"""Encoding of decider states for snapshots."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from histoire.core.errors import CodecError
from histoire.core.stored_fields import UNDECODABLE

S = TypeVar("S")

_encode = msgspec.json.Encoder().encode


def encode_state(state: Any) -> bytes:
    """JSON bytes of a state (msgspec struct, dataclass, dict, ...)."""
    try:
        return _encode(state)
    except (TypeError, msgspec.EncodeError) as exc:
        raise CodecError(f"cannot encode state {type(state).__qualname__}: {exc}") from exc


def decode_state(data: bytes, state_type: type[S]) -> S:
    """The state of type `state_type` encoded in `data`."""
    try:
        return msgspec.json.decode(data, type=state_type)
    except UNDECODABLE as exc:
        raise CodecError(f"cannot decode snapshot as {state_type.__qualname__}: {exc}") from exc


def encode_state_checked(state: S, state_type: type[S]) -> bytes:
    """JSON bytes of a state, checked to decode back as an equal `state_type`.

    A snapshot that would not (a list for a tuple field, a str for an enum)
    would make a load from it differ from a full replay.
    """
    data = encode_state(state)
    try:
        read_back = decode_state(data, state_type)
    except CodecError as exc:
        raise CodecError(f"the state does not read back from its snapshot: {exc}") from exc
    if read_back != state:
        raise CodecError(
            f"the state reads back from its snapshot as {read_back!r}, not {state!r}: "
            f"build it with the declared types of {state_type.__qualname__}"
        )
    return data
