"""Stored rows turned into the protocol's values, checked on the way: a row edited
behind histoire's back raises CorruptEventError naming it, never a raw TypeError."""

from __future__ import annotations

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
