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


def check_batch_versions(rows: list[Any], backward: bool) -> None:
    """Raise CorruptEventError if a batch of a stream's rows holds a non-integer version.

    The rows are in RecordedEvent's parameter order (version third). One
    subtraction per batch, not a check per row, to keep folds fast: versions of
    a batch are contiguous, and SQLite sorts text after every number, so a text
    version breaks the arithmetic and a real one usually the count. (A real
    number standing between two integers in the middle of a batch goes
    through; `verify` reports it.)
    """
    if not rows:
        return
    first, last = rows[0][2], rows[-1][2]
    try:
        span = first - last if backward else last - first
    except TypeError:
        span = None
    if span == len(rows) - 1 and type(last) is int:
        return
    for row in rows:
        check_count(RecordedEvent(*row), "version")
