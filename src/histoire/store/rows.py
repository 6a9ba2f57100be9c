"""Stored rows turned into the protocol's values, checked on the way: a row edited
behind histoire's back raises CorruptEventError naming it, never a raw TypeError."""

from __future__ import annotations

from typing import Any

from histoire.core.recorded import RecordedEvent
from histoire.core.stored_fields import check_count, check_stream_id, corrupt
from histoire.store.protocol import StreamInfo


def stream_info(category: str, last: RecordedEvent) -> StreamInfo:
    """The summary of a stream from its last event, or CorruptEventError if that row is bad."""
    if not isinstance(category, str):
        raise corrupt(last, "category", category, "not text")
    return StreamInfo(
        stream_id=check_stream_id(last),
        category=category,
        version=check_count(last, "version"),
        updated_at=last.recorded_at,
    )


def batch_versions_ok(rows: list[Any], backward: bool) -> bool:
    """Whether a batch of a stream's rows, each starting with its version, holds integers.

    One subtraction per batch, not a check per row, to keep folds fast: versions
    of a batch are contiguous, and SQLite sorts text after every number, so a
    text version breaks the arithmetic and a real one usually the count. (A
    real number standing between two integers in the middle of a batch goes
    through; `verify` reports it.)
    """
    if not rows:
        return True
    first, last = rows[0][0], rows[-1][0]
    try:
        span = first - last if backward else last - first
    except TypeError:
        return False
    return span == len(rows) - 1 and type(last) is int


def check_batch_versions(rows: list[Any], backward: bool, stream_id: str) -> None:
    """Raise CorruptEventError if a batch of a stream's (version, position, ...) rows
    holds a non-integer version (see `batch_versions_ok`)."""
    if batch_versions_ok(rows, backward):
        return
    for row in rows:
        record = RecordedEvent(b"", stream_id, row[0], row[1], 0, "", 0, b"", b"", None, None)
        check_count(record, "version")
