"""Reading stored fields defensively: a row damaged behind histoire's back must
still be shown (and reported by `verify`), never crash the command reading it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from histoire.core.recorded import RecordedEvent

_decode = msgspec.json.decode


def _as_bytes(raw: Any) -> bytes:
    # A row edited by hand in SQLite may hold text where bytes were stored.
    if isinstance(raw, str):
        return raw.encode()
    return bytes(raw)


def payload_of(record: RecordedEvent) -> tuple[Any, str | None]:
    """The stored payload decoded as JSON, or (the raw text, why it does not decode)."""
    raw = _as_bytes(record.data)
    try:
        return _decode(raw), None
    except msgspec.DecodeError as exc:
        return raw.decode(errors="replace"), f"data is not valid JSON ({exc})"


def metadata_of(record: RecordedEvent) -> tuple[Any, str | None]:
    """The metadata as a mapping, or (the raw value, why it is not a JSON object)."""
    try:
        meta: Any = record.metadata
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        return None, f"metadata is not valid JSON ({exc})"
    if isinstance(meta, str | bytes):
        try:
            meta = _decode(meta)
        except msgspec.DecodeError as exc:
            return _as_bytes(meta).decode(errors="replace"), f"metadata is not valid JSON ({exc})"
    if not isinstance(meta, Mapping):
        return meta, "metadata is not a JSON object"
    return dict(meta), None


def raw_data(record: RecordedEvent) -> bytes:
    """The stored payload as bytes (a row edited by hand may hold text)."""
    return _as_bytes(record.data)
