"""The SQLite store's reads of streams and of the log, and the narrow reads of folds.

A stream is read as (version, position, type, schema_version, data, then the
envelope: event_id, recorded_at, metadata, causation_id, correlation_id); its
id is known. The log is read in the order of RecordedEvent's arguments, so
that a batch of rows becomes events without unpacking them in Python. The
envelope is read with the rest, so that a RecordedEvent stands on its own
(after the store is closed, inside a transaction); folds that need none of it
read `read_payloads` / `read_log_payloads` rows instead. A projection's
catch-up reads the log without the envelope (`log_light_pages`): each batch's
envelope is read on first use, by position, in one more query (on SQLite the
store's reader connection is the thread's own, the one of its transaction:
no pool to wait for, unlike PostgreSQL, which keeps reading whole events).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from functools import partial
from itertools import chain, starmap
from typing import Any

from histoire.core.recorded import (
    LogPayloadRow,
    PayloadRow,
    RecordedEvent,
    Unread,
    build_recorded,
)
from histoire.store.paging import keyset_pages
from histoire.store.rows import batch_versions_ok, check_batch_versions

Fetch = Callable[[str, Sequence[Any], str], list[Any]]
"""Runs a read query on the store's reader: (query, params, what it is doing) -> rows."""

_ENVELOPE_COLUMNS = "event_id, recorded_at, metadata, causation_id, correlation_id"
_STREAM_COLUMNS = f"version, position, type, schema_version, data, {_ENVELOPE_COLUMNS}"
_LOG_COLUMNS = (
    "event_id, stream_id, version, position, recorded_at, type, schema_version, data, "
    "metadata, causation_id, correlation_id"
)  # RecordedEvent's arguments, in order
_LOG_PAYLOAD_COLUMNS = "0, position, stream_id, version, type, schema_version, data"
_LOG_LIGHT_COLUMNS = "stream_id, version, position, type, schema_version, data"
_ENVELOPES = f"SELECT position, {_ENVELOPE_COLUMNS} FROM histoire_events WHERE position IN "
_ENVELOPES_PER_QUERY = 500  # parameters per query: below every SQLite's limit (999 before 3.32)

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


def log_query(
    categories: Collection[str] | None,
    types: Collection[str] | None,
    columns: str = _LOG_COLUMNS,
    *,
    scan: bool = False,
) -> str:
    """The keyset query of the log after a position, filtered; parameters: position,
    the categories, the types, the batch size. With `scan` (and categories), the
    log is read in order up to a position given after the first one, each row's
    category tested there (not looked up in the categories' index)."""
    where = ["position > ?"]
    if categories is not None and scan:
        where.append("position <= ?")
        where.append(f"+category IN ({','.join('?' * len(categories))})")  # `+`: no index
    elif categories is not None:
        where.append(f"category IN ({','.join('?' * len(categories))})")
    if types is not None:
        where.append(f"type IN ({','.join('?' * len(types))})")
    return (
        f"SELECT {columns} FROM histoire_events WHERE {' AND '.join(where)} "
        "ORDER BY position LIMIT ?"
    )


def stream_batch(stream_id: str, rows: list[Any], backward: bool) -> list[RecordedEvent]:
    """The events of a batch of `STREAM_FORWARD`/`STREAM_BACKWARD` rows (checked versions)."""
    if not rows:
        return []
    check_batch_versions(rows, backward, stream_id)
    return [
        build_recorded(
            event_id, stream_id, version, position, recorded_at, kind, schema_version, data,
            metadata, causation_id, correlation_id,
        )
        for (
            version, position, kind, schema_version, data,
            event_id, recorded_at, metadata, causation_id, correlation_id,
        ) in rows
    ]  # fmt: skip


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
        yield from stream_batch(stream_id, rows, backward)


def log_pages(
    fetch: Fetch,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
    densities: Densities | None = None,
) -> Iterator[RecordedEvent]:
    """The events of the log after `position`, filtered, in batches."""
    pages = _log_rows(
        fetch, _LOG_COLUMNS, position, categories, types, limit, batch_size, densities
    )
    return chain.from_iterable(starmap(build_recorded, rows) for rows in pages)


def log_light_pages(
    fetch: Fetch,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
    densities: Densities | None = None,
) -> Iterator[RecordedEvent]:
    """`log_pages`, the envelope of each batch read on first use (see `Unread`)."""
    pages = _log_rows(
        fetch, _LOG_LIGHT_COLUMNS, position, categories, types, limit, batch_size, densities
    )
    return chain.from_iterable(map(partial(_light_batch, partial(envelopes, fetch)), pages))


def _light_batch(load: Callable[[list[int]], list[Any]], rows: list[Any]) -> list[RecordedEvent]:
    unread = Unread(load, rows, 2)
    return [
        build_recorded(unread, stream_id, version, at, unread, kind, schema_version, data,
                       unread, unread, unread)
        for stream_id, version, at, kind, schema_version, data in rows
    ]  # fmt: skip


def envelopes(fetch: Fetch, positions: list[int]) -> list[Any]:
    """(position, event_id, recorded_at, metadata, causation_id, correlation_id) of the
    events at `positions`."""
    found: list[Any] = []
    for start in range(0, len(positions), _ENVELOPES_PER_QUERY):
        chunk = positions[start : start + _ENVELOPES_PER_QUERY]
        query = f"{_ENVELOPES}({','.join('?' * len(chunk))})"
        found += fetch(query, chunk, "reading the envelope of events")
    return found


def log_payload_pages(
    fetch: Fetch,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
    densities: Densities | None = None,
) -> Iterator[LogPayloadRow]:
    """What a fold of the log needs of its events after `position`, filtered, in batches."""
    return chain.from_iterable(
        _log_rows(
            fetch, _LOG_PAYLOAD_COLUMNS, position, categories, types, limit, batch_size, densities
        )
    )


def _log_rows(
    fetch: Fetch,
    columns: str,
    position: int,
    categories: list[str] | None,
    types: list[str] | None,
    limit: int | None,
    batch_size: int,
    densities: Densities | None,
) -> Iterator[list[Any]]:
    query = log_query(categories, types, columns)
    params = [*(categories or ()), *(types or ())]
    at = columns.split(", ").index("position")
    if categories is not None and densities is not None:
        scan = log_query(categories, types, columns, scan=True)
        page = densities.reader(fetch, query, scan, tuple(categories), params, at)
    else:
        page = partial(_page, fetch, query, params)
    return keyset_pages(page, lambda last: last[at], position, limit, batch_size)


def _page(fetch: Fetch, query: str, params: list[Any], after: int, size: int) -> list[Any]:
    return fetch(query, (after, *params, size), "reading the log")


class Densities:
    """How a store reads the log's events of some categories: through their index where
    they are sparse in the log, reading the log in order where they are dense.

    Through the index, each event costs a look-up of its row: a catch-up whose
    categories are most of the log was 8% slower than reading the log in order,
    which tests every row. A page read through the index that found its events
    within twice its size of positions marks its categories dense; the next page
    then reads in order, but at most twice its size of positions (a bound: past
    it, the rest of the page comes through the index, from the last row read,
    and the categories are sparse again). Both ways give the same rows: this is
    only a matter of speed, kept per store and set of categories, shared by its
    readers.
    """

    MIN_SIZE = 100
    """Pages smaller than this always go through the index."""

    def __init__(self) -> None:
        self._dense: dict[tuple[str, ...], bool] = {}

    def reader(
        self,
        fetch: Fetch,
        indexed: str,
        scan: str,
        key: tuple[str, ...],
        params: list[Any],
        at: int,
    ) -> Callable[[int, int], list[Any]]:
        """The page reader (`keyset_pages`' fetch) of one read of these categories."""
        dense, doing = self._dense, "reading the log"

        def page(after: int, size: int) -> list[Any]:
            if size < self.MIN_SIZE:
                return fetch(indexed, (after, *params, size), doing)
            span = 2 * size
            if dense.get(key):
                rows = fetch(scan, (after, after + span, *params, size), doing)
                if len(rows) < size:
                    # The rest through the index, from the last row read, not from the
                    # bound: a commit since the scan may have taken positions below it.
                    dense[key] = False
                    last = rows[-1][at] if rows else after
                    rows += fetch(indexed, (last, *params, size - len(rows)), doing)
                return rows
            rows = fetch(indexed, (after, *params, size), doing)
            dense[key] = len(rows) == size and rows[-1][at] - after <= span
            return rows

        return page


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
