"""The SQLite store's reads of streams and of the log: narrow rows, envelopes on demand.

A stream is read as (version, position, type, schema_version, data): its id is
known, and the envelope (`histoire.store.envelopes`) is fetched for a whole
batch the first time one of its events is asked for it. The log is read the
same way, with each row's stream id in front.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from histoire.core.recorded import Envelope, LogPayloadRow, PayloadRow, RecordedEvent
from histoire.store.envelopes import BatchEnvelopes
from histoire.store.paging import keyset_pages
from histoire.store.rows import batch_versions_ok, check_batch_versions

Fetch = Callable[[str, Sequence[Any], str], list[Any]]
"""Runs a read query on the store's reader: (query, params, what it is doing) -> rows."""

_STREAM_COLUMNS = "version, position, type, schema_version, data"
_LOG_COLUMNS = "stream_id, version, position, type, schema_version, data"
_LOG_PAYLOAD_COLUMNS = "0, position, stream_id, version, type, schema_version, data"
_ENVELOPE_COLUMNS = "position, event_id, recorded_at, metadata, causation_id, correlation_id"

STREAM_FORWARD = (
    f"SELECT {_STREAM_COLUMNS} FROM histoire_events WHERE stream_id = ? AND version >= ? "
    "ORDER BY version LIMIT ?"
)
STREAM_BACKWARD = (
    f"SELECT {_STREAM_COLUMNS} FROM histoire_events WHERE stream_id = ? AND version <= ? "
    "ORDER BY version DESC LIMIT ?"
)
_PAYLOADS = (
    "SELECT version, type, schema_version, data FROM histoire_events "
    "WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
)
_STREAM_ENVELOPES = (
    f"SELECT {_ENVELOPE_COLUMNS} FROM histoire_events "
    "WHERE stream_id = ? AND version BETWEEN ? AND ?"
)
_RANGE_ENVELOPES = f"SELECT {_ENVELOPE_COLUMNS} FROM histoire_events WHERE position BETWEEN ? AND ?"
_IDS_PER_QUERY = 500


def log_query(
    categories: Collection[str] | None,
    types: Collection[str] | None,
    columns: str = _LOG_COLUMNS,
) -> str:
    """The keyset query of the log after a position, filtered; parameters: position,
    the categories, the types, the batch size."""
    where = ["position > ?"]
    if categories is not None:
        where.append(f"category IN ({','.join('?' * len(categories))})")
    if types is not None:
        where.append(f"type IN ({','.join('?' * len(types))})")
    return (
        f"SELECT {columns} FROM histoire_events WHERE {' AND '.join(where)} "
        "ORDER BY position LIMIT ?"
    )


def stream_batch(
    fetch: Fetch, stream_id: str, rows: list[Any], backward: bool
) -> list[RecordedEvent]:
    """The events of a batch of `STREAM_FORWARD`/`STREAM_BACKWARD` rows (checked versions)."""

    if not rows:
        return []
    check_batch_versions(rows, backward, stream_id)
    low, high = rows[0][0], rows[-1][0]
    if backward:
        low, high = high, low

    def envelopes(where: tuple[str, int, int]) -> Mapping[int, Envelope]:
        found = fetch(_STREAM_ENVELOPES, where, f"reading the envelopes of stream {stream_id}")
        return {row[0]: row[1:] for row in found}

    source = BatchEnvelopes(envelopes, (stream_id, low, high))
    new = RecordedEvent.without_envelope
    return [
        new(stream_id, version, position, kind, schema_version, data, 0, source)
        for version, position, kind, schema_version, data in rows
    ]


def log_batch(fetch: Fetch, rows: list[Any]) -> list[RecordedEvent]:
    """The events of a batch of `log_query` rows."""
    if not rows:
        return []
    positions = [row[2] for row in rows]

    def envelopes(where: list[int]) -> Mapping[int, Envelope]:
        return _envelopes_at(fetch, where)

    source = BatchEnvelopes(envelopes, positions)
    new = RecordedEvent.without_envelope
    return [
        new(stream_id, version, position, kind, schema_version, data, 0, source)
        for stream_id, version, position, kind, schema_version, data in rows
    ]


def _envelopes_at(fetch: Fetch, positions: list[int]) -> Mapping[int, Envelope]:
    doing = "reading the envelopes of the log"
    first, last = positions[0], positions[-1]
    if last - first < 2 * len(positions):
        # Rows of a little-filtered log: one range scan of the primary key.
        return {row[0]: row[1:] for row in fetch(_RANGE_ENVELOPES, (first, last), doing)}
    found: dict[int, Envelope] = {}
    for start in range(0, len(positions), _IDS_PER_QUERY):
        chunk = positions[start : start + _IDS_PER_QUERY]
        query = (
            f"SELECT {_ENVELOPE_COLUMNS} FROM histoire_events "
            f"WHERE position IN ({','.join('?' * len(chunk))})"
        )
        found.update((row[0], row[1:]) for row in fetch(query, chunk, doing))
    return found


def stream_pages(
    fetch: Fetch,
    stream_id: str,
    cursor: int,
    backward: bool,
    limit: int | None,
    batch_size: int,
) -> Iterator[RecordedEvent]:
    """The events of `stream_id` from version `cursor`, in batches."""
    query = STREAM_BACKWARD if backward else STREAM_FORWARD
    doing = f"reading stream {stream_id}"
    step = -1 if backward else 1
    for rows in keyset_pages(
        lambda version, size: fetch(query, (stream_id, version, size), doing),
        lambda last: last[0] + step,
        cursor,
        limit,
        batch_size,
    ):
        yield from stream_batch(fetch, stream_id, rows, backward)


def log_pages(
    fetch: Fetch,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
) -> Iterator[RecordedEvent]:
    """The events of the log after `position`, filtered, in batches."""
    for rows in _log_rows(fetch, _LOG_COLUMNS, position, categories, types, limit, batch_size):
        yield from log_batch(fetch, rows)


def log_payload_pages(
    fetch: Fetch,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
) -> Iterator[LogPayloadRow]:
    """What a fold of the log needs of its events after `position`, filtered, in batches."""
    return chain.from_iterable(
        _log_rows(fetch, _LOG_PAYLOAD_COLUMNS, position, categories, types, limit, batch_size)
    )


def _log_rows(
    fetch: Fetch,
    columns: str,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
) -> Iterator[list[Any]]:
    query = log_query(categories, types, columns)
    params = [*(categories or ()), *(types or ())]
    at = columns.split(", ").index("position")
    return keyset_pages(
        lambda after, size: fetch(query, (after, *params, size), "reading the log"),
        lambda last: last[at],
        position,
        limit,
        batch_size,
    )


def payload_pages(
    fetch: Fetch, stream_id: str, cursor: int, limit: int | None, batch_size: int
) -> Iterator[PayloadRow]:
    """What a fold needs of `stream_id`'s events from version `cursor`, in batches."""
    doing = f"reading stream {stream_id}"
    for rows in keyset_pages(
        lambda version, size: fetch(_PAYLOADS, (stream_id, version, size), doing),
        lambda last: last[0] + 1,
        cursor,
        limit,
        batch_size,
    ):
        if not batch_versions_ok(rows, False):
            # Name the bad row as read_stream does: it stops on the same batch.
            for _ in stream_pages(fetch, stream_id, cursor, False, limit, batch_size):
                pass
        yield from rows
