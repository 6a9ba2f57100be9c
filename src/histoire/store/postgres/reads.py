"""The PostgreSQL stores' reads of streams and of the log, and the narrow reads of folds.

The SQL text and the row builders serve the blocking store (which pages them
here) and the asyncio store (which pages them on its own connections).

Events are read whole, envelope included (event id, time, metadata, causation
and correlation ids), so that a RecordedEvent stands on its own (after the
store is closed, inside a transaction that holds the pool's last connection);
folds that need none of it read `read_payloads` / `read_log_payloads` rows,
which leave out the envelope's columns and their loader calls. The one
exception is the blocking store's `read_log_light` (a projection's catch-up,
through `Follower`): its batches read their envelopes on first use
(`light_batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain, starmap
from typing import Any

from psycopg import sql

from histoire.core.recorded import (
    Checkpoint,
    PayloadRow,
    RecordedEvent,
    Unread,
    build_recorded,
)
from histoire.store.paging import keyset_pages
from histoire.store.postgres.sql import HORIZON, category_mode, read_log_params
from histoire.store.read_checks import validate_log_read

Fetch = Callable[[str, Sequence[Any], str], list[Any]]
"""Runs a read query on a pooled connection, in binary: (query, params, doing) -> rows."""

_ENVELOPE_COLUMNS = "event_id, recorded_at, metadata, causation_id, correlation_id"
_STREAM_COLUMNS = f"version, position, type, schema_version, data, xid, {_ENVELOPE_COLUMNS}"
_LOG_COLUMNS = (
    "event_id, stream_id, version, position, recorded_at, type, schema_version, data, "
    "metadata, causation_id, correlation_id, xid"
)  # RecordedEvent's arguments, in order: a batch becomes events without unpacking rows
LOG_KEY = (11, 3)
"""Where a `_LOG_COLUMNS` row holds its (xid, position)."""
_LOG_PAYLOAD_COLUMNS = "xid, position, stream_id, version, type, schema_version, data"


@dataclass(frozen=True)
class ReadStatements:
    """The read queries of a store in one schema."""

    stream_forward: str
    stream_backward: str
    payloads: str
    envelopes: str
    schema: str

    def log(self, categories: int, types: bool, *, payloads: bool = False) -> str:
        """The log keyset query; `categories`: 0 unfiltered, 1 one category, 2 several.

        Rows of `_LOG_COLUMNS`, or of `LogPayloadRow`'s columns with `payloads`.
        """
        return _log(self.schema, categories, types, payloads)

    def woken(
        self,
        after: Checkpoint,
        categories: Collection[str] | None,
        types: Collection[str] | None,
        limit: int,
    ) -> tuple[str, tuple[Any, ...]] | None:
        """The query and parameters of `read_log_woken` (both stores'), checked; None if
        the filters can match nothing."""
        after, cats, kinds = validate_log_read(after, categories, types, limit, limit)
        if cats == [] or kinds == []:
            return None
        query = self.log(category_mode(cats), kinds is not None, payloads=False)
        return query, read_log_params(int(after[0]), int(after[1]), cats, kinds, limit)


@cache
def read_statements(schema: str) -> ReadStatements:
    """The read statements of a store in `schema` (an already validated name)."""
    s = sql.Identifier(schema).as_string(None)
    return ReadStatements(
        schema=schema,
        stream_forward=(
            f"SELECT {_STREAM_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version >= %s "
            "ORDER BY version LIMIT %s"
        ),
        stream_backward=(
            f"SELECT {_STREAM_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version <= %s "
            "ORDER BY version DESC LIMIT %s"
        ),
        payloads=(
            f"SELECT version, type, schema_version, data FROM {s}.events "
            "WHERE stream_id = %s AND version >= %s ORDER BY version LIMIT %s"
        ),
        envelopes=(
            f"SELECT position, {_ENVELOPE_COLUMNS} FROM {s}.events "
            "WHERE position = ANY(%s::bigint[])"
        ),
    )


@cache
def _log(schema: str, categories: int, types: bool, payloads: bool) -> str:
    # One index range scan in (xid, position) order, from the checkpoint to the
    # horizon: `xid < (SELECT ...)` is an InitPlan, computed once per batch and an
    # index condition that ends the scan where the horizon starts (rows come by xid,
    # so nothing visible lies beyond it). Written `xid < HORIZON`, the horizon was
    # computed again for every row (pg_current_snapshot() builds a snapshot each
    # call): 0.1-0.15 us of server CPU per event. Left outside the LIMIT, a
    # subquery scan cost the server as much again.
    s = sql.Identifier(schema).as_string(None)
    where = ["(xid, position) > (%s::bigint, %s::bigint)", f"xid < (SELECT {HORIZON})"]
    if categories == 1:
        where.append("category = %s")
    elif categories:
        where.append("category = ANY(%s::text[])")
    if types:
        where.append("type = ANY(%s::text[])")
    columns = _LOG_PAYLOAD_COLUMNS if payloads else _LOG_COLUMNS
    return (
        f"SELECT {columns} FROM {s}.events WHERE {' AND '.join(where)} "
        "ORDER BY xid, position LIMIT %s"
    )


def stream_pages(
    fetch: Fetch,
    statements: ReadStatements,
    stream_id: str,
    cursor: int,
    backward: bool,
    limit: int | None,
    size: int,
) -> Iterator[RecordedEvent]:
    """The events of `stream_id` from version `cursor`, in batches."""
    query = statements.stream_backward if backward else statements.stream_forward
    doing = f"reading stream {stream_id}"
    step = -1 if backward else 1
    for rows in keyset_pages(
        lambda version, batch: fetch(query, (stream_id, version, batch), doing),
        lambda last: last[0] + step,
        cursor,
        limit,
        size,
    ):
        yield from stream_batch(stream_id, rows)


def stream_batch(stream_id: str, rows: list[Any]) -> list[RecordedEvent]:
    """The events of a batch of `stream_forward` / `stream_backward` rows."""
    return [
        build_recorded(
            event_id, stream_id, version, position, recorded_at, kind, schema_version, data,
            metadata, causation_id, correlation_id, xid,
        )
        for (
            version, position, kind, schema_version, data, xid,
            event_id, recorded_at, metadata, causation_id, correlation_id,
        ) in rows
    ]  # fmt: skip


def payload_pages(
    fetch: Fetch,
    statements: ReadStatements,
    stream_id: str,
    cursor: int,
    limit: int | None,
    size: int,
) -> Iterator[PayloadRow]:
    """What a fold needs of `stream_id`'s events from version `cursor`, in batches."""
    doing = f"reading stream {stream_id}"
    return chain.from_iterable(
        keyset_pages(
            lambda version, batch: fetch(statements.payloads, (stream_id, version, batch), doing),
            lambda last: last[0] + 1,
            cursor,
            limit,
            size,
        )
    )


def log_batch(rows: list[Any]) -> list[RecordedEvent]:
    """The events of a batch of `ReadStatements.log` rows."""
    return list(starmap(build_recorded, rows))


def light_batch(load: Callable[[list[int]], list[Any]], rows: list[Any]) -> list[RecordedEvent]:
    """The events of a batch of log rows without the envelope (`LogPayloadRow`'s columns),
    each holding an `Unread` that reads the batch's envelopes on first use (`load`)."""
    unread = Unread(load, rows, 1)
    return [
        build_recorded(unread, stream_id, version, position, unread, kind, schema_version, data,
                       unread, unread, unread, xid)
        for xid, position, stream_id, version, kind, schema_version, data in rows
    ]  # fmt: skip
