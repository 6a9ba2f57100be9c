"""The PostgreSQL store's SQL text and row conversions, free of any I/O style.

The blocking store (`postgres.py`) runs these statements; an asyncio store
will run the very same ones. Every text is built once per schema and never
changes afterwards, so that psycopg prepares it on each connection after a few
executions.

Log order is (xid, position), and a reader sees only rows of transactions
below the oldest transaction still running: `HORIZON`. A follower's
Checkpoint is that pair: `Checkpoint(commit=xid, position=position)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from psycopg import sql

from histoire.core.append_result import AppendResult
from histoire.core.recorded import NewEvent, RecordedEvent, build_recorded
from histoire.core.streams import category_of
from histoire.core.versions import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion
from histoire.store.postgres.arrays import (
    ByteaArray,
    IntArray,
    JsonbArray,
    JsonbBytes,
    TextArray,
    UuidArray,
)

EVENT_COLUMNS = (
    "event_id, stream_id, version, position, recorded_at, type, schema_version, "
    "data, metadata, causation_id, correlation_id, xid"
)
HORIZON = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
"""Every transaction below this id has ended: rows below it are final."""

IN_INDEX_ORDER = "SELECT set_config('enable_sort', 'off', true)"
"""Sent before the log's keyset queries, in the same pipeline (one implicit transaction,
one round trip): they then walk an index in (xid, position) order, a batch costing its
own rows, whatever the table's statistics. Without statistics (a log just loaded, before
autovacuum analyses it, or with autovacuum off) the planner expects a handful of matching
rows and chose to sort every event after the checkpoint, for every batch."""

_metadata_encode = msgspec.json.Encoder().encode
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Statements:
    """Every SQL statement of the store, for one schema."""

    append: str
    append_one: str
    events_by_ids: str
    event_by_id: str
    stream_version: str
    streams_page: str
    streams_page_of_category: str
    head: str
    save_snapshot: str
    load_snapshot: str
    triggers: str
    functions: str
    holes: str
    out_of_order: str
    future_xids: str
    stream_drift: str
    schema: str


@cache
def statements(schema: str) -> Statements:
    """The statements of a store in `schema` (an already validated name)."""
    s = sql.Identifier(schema).as_string(None)
    return Statements(
        schema=schema,
        append=(
            f"SELECT o_actual, o_positions, o_xid, o_recorded_at FROM {s}.append_events("
            "%s, %s, %s, %s::uuid[], %s::text[], %s::integer[], %s::bytea[], %s::jsonb[], "
            "%s::uuid[], %s::uuid[])"
        ),
        append_one=(
            f"SELECT o_actual, o_position, o_xid, o_recorded_at FROM {s}.append_event("
            "%s, %s, %s, %s::uuid, %s::text, %s::integer, %s::bytea, %s::jsonb, %s::uuid, %s::uuid)"
        ),
        events_by_ids=f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE event_id = ANY(%s::uuid[])",
        event_by_id=f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE event_id = %s::uuid",
        stream_version=f"SELECT version FROM {s}.streams WHERE stream_id = %s",
        streams_page=(
            f"SELECT stream_id, category, version, updated_at FROM {s}.streams "
            "WHERE stream_id > %s ORDER BY stream_id LIMIT %s"
        ),
        # A category's streams are one range of the primary key: see category_range().
        streams_page_of_category=(
            f"SELECT stream_id, category, version, updated_at FROM {s}.streams "
            "WHERE stream_id >= %s AND stream_id < %s AND category = %s AND stream_id > %s "
            "ORDER BY stream_id LIMIT %s"
        ),
        head=(
            f"SELECT e.xid, e.position, (SELECT max(xid) FROM {s}.events), h.horizon "
            f"FROM (SELECT {HORIZON} AS horizon) AS h "
            f"LEFT JOIN LATERAL (SELECT xid, position FROM {s}.events WHERE xid < h.horizon "
            "ORDER BY xid DESC, position DESC LIMIT 1) AS e ON true"
        ),
        save_snapshot=(
            f"INSERT INTO {s}.snapshots (stream_id, name, schema_version, version, data) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (stream_id, name, schema_version, version) "
            "DO UPDATE SET data = excluded.data, recorded_at = excluded.recorded_at"
        ),
        load_snapshot=(
            f"SELECT version, data, recorded_at FROM {s}.snapshots "
            "WHERE stream_id = %s AND name = %s AND schema_version = %s AND version <= %s "
            "ORDER BY version DESC LIMIT 1"
        ),
        triggers=(
            "SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'events' AND t.tgenabled <> 'D'"
        ),
        functions=(
            "SELECT p.proname, p.prosecdef, coalesce(p.proconfig, '{}'), "
            "has_function_privilege('public', p.oid, 'EXECUTE') "
            "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s"
        ),
        holes=(
            f"SELECT stream_id, count(*), min(version), max(version) FROM {s}.events "
            "GROUP BY stream_id HAVING count(*) <> max(version) OR min(version) <> 1"
        ),
        # Each event whose version is lower than the one before it in the log.
        out_of_order=(
            "SELECT stream_id, count(*), (array_agg(before ORDER BY xid, position))[1], "
            "(array_agg(version ORDER BY xid, position))[1] "
            f"FROM (SELECT stream_id, version, xid, position, lag(version) OVER "
            f"(PARTITION BY stream_id ORDER BY xid, position) AS before FROM {s}.events) AS e "
            "WHERE before > version GROUP BY stream_id ORDER BY stream_id"
        ),
        future_xids=(
            f"SELECT max(xid), pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
            f"FROM {s}.events"
        ),
        stream_drift=(
            f"SELECT s.stream_id, s.version, coalesce(max(e.version), 0) FROM {s}.streams AS s "
            f"LEFT JOIN {s}.events AS e ON e.stream_id = s.stream_id GROUP BY s.stream_id "
            "HAVING s.version <> coalesce(max(e.version), 0)"
        ),
    )


def expected_code(expected: ExpectedVersion) -> int:
    """The expected version as append_events takes it: -1 any, -2 exists, n exactly n."""
    if expected is ANY:
        return -1
    if expected is STREAM_EXISTS:
        return -2
    if expected is NO_STREAM:
        return 0
    assert isinstance(expected, int)
    return expected


def append_params(
    stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion
) -> tuple[Any, ...]:
    """The parameters of `Statements.append`: one array per column."""
    return (
        stream_id,
        category_of(stream_id),
        expected_code(expected),
        UuidArray([e.event_id for e in events]),
        TextArray([e.type for e in events]),
        IntArray([e.schema_version for e in events]),
        ByteaArray([e.data for e in events]),
        JsonbArray([_metadata_encode(e.metadata) if e.metadata else b"{}" for e in events]),
        UuidArray([e.causation_id for e in events]),
        UuidArray([e.correlation_id for e in events]),
    )


def append_one_params(
    stream_id: str, event: NewEvent, expected: ExpectedVersion
) -> tuple[Any, ...]:
    """The parameters of `Statements.append_one`: one event, one value per column."""
    return (
        stream_id,
        category_of(stream_id),
        expected_code(expected),
        event.event_id,
        event.type,
        event.schema_version,
        event.data,
        JsonbBytes(_metadata_encode(event.metadata) if event.metadata else b"{}"),
        event.causation_id,
        event.correlation_id,
    )


def category_range(category: str) -> tuple[str, str]:
    """The bounds [low, high) of the stream ids of `category` (collation "C").

    A stream's category is what comes before the first '-' of its id: its id is
    the category itself or starts with category + '-', and '.' is the character
    after '-'. Ids such as `account x-1` (category `account x`) also fall in the
    range: the query filters on the category column too.
    """
    return category, category + "."


def append_result(
    stream_id: str, events: Sequence[NewEvent], row: tuple[Any, ...]
) -> AppendResult | int:
    """What an append_events (or append_event) row says: the AppendResult, or the actual
    version on a mismatch."""
    actual, positions, xid, recorded_at = row
    if positions is None:
        return int(actual)
    if isinstance(positions, int):  # append_event: one event, one position
        version = actual + 1
        record = _recorded(stream_id, events[0], version, positions, recorded_at, xid)
        return AppendResult(stream_id, version, version, positions, positions, (record,))
    records = tuple(
        _recorded(stream_id, e, actual + i, position, recorded_at, xid)
        for i, (e, position) in enumerate(zip(events, positions, strict=True), 1)
    )
    return AppendResult(
        stream_id=stream_id,
        first_version=actual + 1,
        last_version=actual + len(events),
        first_position=positions[0],
        last_position=positions[-1],
        events=records,
    )


def _recorded(
    stream_id: str, e: NewEvent, version: int, position: int, recorded_at: Any, xid: int
) -> RecordedEvent:
    """An appended event as recorded; its metadata as JSON, what reads give back (decoded
    when first used). Built positionally, in C (`build_recorded`)."""
    return build_recorded(
        e.event_id,
        stream_id,
        version,
        position,
        recorded_at,
        e.type,
        e.schema_version,
        bytes(e.data),
        _metadata_encode(e.metadata) if e.metadata else b"{}",
        e.causation_id,
        e.correlation_id,
        xid,
    )


def row_to_event(row: Sequence[Any]) -> RecordedEvent:
    """A row of `EVENT_COLUMNS` as a RecordedEvent (ids, time and metadata may stay raw)."""
    return build_recorded(*row)


def event_rows(cursor: Any) -> Callable[[Sequence[Any]], RecordedEvent]:
    """A psycopg row factory that makes RecordedEvents of `EVENT_COLUMNS` rows."""
    return row_to_event


def to_datetime(value: dt.datetime | int) -> dt.datetime:
    """A timestamptz as read (microseconds since the Unix epoch, raw) as a UTC datetime."""
    if isinstance(value, int):
        return _EPOCH + dt.timedelta(microseconds=value)
    return value


def read_log_params(
    commit: int,
    position: int,
    categories: Sequence[str] | None,
    types: Sequence[str] | None,
    size: int,
) -> tuple[Any, ...]:
    """The parameters of the log query (`reads.ReadStatements.log`) for these filters."""
    params: list[Any] = [commit, position]
    if categories is not None:
        params.append(categories[0] if len(categories) == 1 else list(categories))
    if types is not None:
        params.append(list(types))
    params.append(size)
    return tuple(params)


def category_mode(categories: Sequence[str] | None) -> int:
    """0 unfiltered, 1 one category, 2 several (or none at all)."""
    if categories is None:
        return 0
    return 1 if len(categories) == 1 else 2


LAST_VERSION = (1 << 63) - 1
"""A version past every stream's end: where a backward read starts by default."""
