"""The PostgreSQL store's operations, free of any I/O style: shared by both edges.

Each operation is a generator that yields the statements it needs and gets
their results back: `(how, query, params)`, where `how` is "row" (the first
row), "rows" (every row), "events" (every row as a RecordedEvent), "execute"
(no result), "sleep" (`params[0]` seconds, no statement) or "emit" (`params`
are items the operation gives out: list_streams' pages). The blocking store
performs them through `pool.StorePool`, the asyncio store through
`async_pool.AsyncStorePool`: what to run and what it means is written once.
A driver throws a statement's psycopg error into the generator, so that an
operation may handle it (an append meeting its own event ids).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

import psycopg

from histoire.core.append_result import AppendResult
from histoire.core.errors import ConcurrencyError, StoreError
from histoire.core.recorded import START, Checkpoint, NewEvent, RecordedEvent
from histoire.core.versions import ExpectedVersion
from histoire.store.checks import replayed_result
from histoire.store.postgres.arrays import UuidArray
from histoire.store.postgres.errors import EVENT_ID_CONSTRAINT, constraint_of
from histoire.store.postgres.sql import (
    LAST_VERSION,
    Statements,
    append_one_params,
    append_params,
    append_result,
    category_range,
    to_datetime,
)
from histoire.store.protocol import Snapshot, StreamInfo

T = TypeVar("T")
Request = tuple[str, str, Sequence[Any]]
Steps = Generator[Request, Any, T]

LIST_PAGE = 1000


def append(
    sql: Statements, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion
) -> Steps[AppendResult]:
    """One round trip, to `append_event` for one event, else to `append_events`; the first
    result again if these ids are stored."""
    if len(events) == 1:
        query, params = sql.append_one, append_one_params(stream_id, events[0], expected)
    else:
        query, params = sql.append, append_params(stream_id, events, expected)
    try:
        row = yield ("row", query, params)
    except psycopg.errors.UniqueViolation as exc:
        if constraint_of(exc) != EVENT_ID_CONSTRAINT:
            raise
        return (yield from _replay(sql, stream_id, events, expected, None))
    assert row is not None
    result = append_result(stream_id, events, row)
    if isinstance(result, AppendResult):
        return result
    return (yield from _replay(sql, stream_id, events, expected, result))


def _replay(
    sql: Statements,
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersion,
    actual: int | None,
) -> Steps[AppendResult]:
    """The first result of an append whose ids are stored, or the error to raise."""
    ids = UuidArray([e.event_id for e in events])
    stored: list[RecordedEvent] = yield ("events", sql.events_by_ids, (ids,))
    if not stored:
        if actual is None:  # pragma: no cover - the unique index said otherwise
            raise StoreError(f"appending to {stream_id}: duplicate id vanished")
        raise ConcurrencyError(stream_id, expected, actual)
    found = {r.event_id: r for r in stored}
    return replayed_result(stream_id, events, expected, [found.get(e.event_id) for e in events])


def head_row(sql: Statements) -> Steps[tuple[Checkpoint, int, int]]:
    """(last visible event's checkpoint, newest committed xid, horizon)."""
    rows = yield ("rows", sql.head, ())
    xid, position, newest, horizon = rows[0]
    return START if xid is None else Checkpoint(xid, position), newest or 0, horizon


def first_batch_is_final(head: Sequence[Any], visibility_wait: float) -> bool:
    """Whether a log read's first batch, read with the head row (`sql.head`) in one
    round trip, is the one to give: no event committed before the read is still
    hidden behind an older open transaction (or the store does not wait for those).
    Otherwise the read waits as `settled` does, then reads the batch again."""
    _, _, newest, horizon = head
    return bool((newest or 0) < horizon or visibility_wait <= 0)


def head(sql: Statements) -> Steps[tuple[Checkpoint, bool]]:
    """The last visible event's checkpoint, and whether committed events are still hidden.

    Hidden: committed by a transaction above the horizon, because an older
    one is still running; they show when it ends.
    """
    checkpoint, newest, horizon = yield from head_row(sql)
    return checkpoint, newest >= horizon


def settled(sql: Statements, visibility_wait: float) -> Steps[Checkpoint]:
    """The head, once the transactions older than the newest committed one have ended
    (waiting up to `visibility_wait` seconds; usually a millisecond)."""
    checkpoint, newest, horizon = yield from head_row(sql)
    if newest < horizon or visibility_wait <= 0:
        return checkpoint
    deadline = time.monotonic() + visibility_wait
    pause = 0.0002  # usually a fraction of a millisecond: look soon, then less often
    while time.monotonic() < deadline:
        yield ("sleep", "", (pause,))
        pause = min(pause * 1.5, 0.02)
        checkpoint, _, horizon = yield from head_row(sql)
        if horizon > newest:
            break
    return checkpoint


def streams(sql: Statements, category: str | None) -> Steps[None]:
    """Every stream (of `category`), by stream id, a page at a time ("emit")."""
    last = ""
    while True:
        params: tuple[Any, ...] = (last, LIST_PAGE)
        query = sql.streams_page
        if category is not None:
            query = sql.streams_page_of_category
            params = (*category_range(category), category, *params)
        rows = yield ("rows", query, params)
        yield (
            "emit",
            "",
            [
                StreamInfo(
                    stream_id=stream_id,
                    category=cat,
                    version=version,
                    updated_at=to_datetime(updated_at),
                )
                for stream_id, cat, version, updated_at in rows
            ],
        )
        if len(rows) < LIST_PAGE:
            return
        last = rows[-1][0]


def save_snapshot(sql: Statements, snapshot: Snapshot) -> Steps[None]:
    """Store (or replace) a snapshot."""
    params = (
        snapshot.stream_id,
        snapshot.name,
        snapshot.schema_version,
        snapshot.version,
        bytes(snapshot.data),
    )
    yield ("execute", sql.save_snapshot, params)


def load_snapshot(
    sql: Statements, stream_id: str, name: str, schema_version: int, max_version: int | None
) -> Steps[Snapshot | None]:
    """The latest snapshot named `name` of `stream_id` at `schema_version`, not past
    `max_version`."""
    top = LAST_VERSION if max_version is None else max_version
    rows = yield ("rows", sql.load_snapshot, (stream_id, name, schema_version, top))
    if not rows:
        return None
    version, data, recorded_at = rows[0]
    return Snapshot(
        stream_id=stream_id,
        name=name,
        version=version,
        schema_version=schema_version,
        data=data,
        recorded_at=to_datetime(recorded_at),
    )


def stream_version(sql: Statements, stream_id: str) -> Steps[int]:
    """The number of events in `stream_id` (0 if it does not exist)."""
    rows = yield ("rows", sql.stream_version, (stream_id,))
    return int(rows[0][0]) if rows else 0


def event(sql: Statements, event_id: Any) -> Steps[RecordedEvent | None]:
    """The stored event with this id, or None."""
    found = yield ("events", sql.event_by_id, (event_id,))
    return found[0] if found else None
