"""Encoding of decider states for snapshots."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from histoire.core.errors import CodecError

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
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CodecError(f"cannot decode snapshot as {state_type.__qualname__}: {exc}") from exc
