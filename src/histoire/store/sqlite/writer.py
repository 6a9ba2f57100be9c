"""The write side of the SQLite store: one transaction for a batch of appends.

Fast path: one query reads every stream version of the batch and the log's
last position, the expected versions are checked in Python, and all accepted
events go in with multi-row INSERTs. A batch thus costs four statements (BEGIN,
read, INSERT, COMMIT) whatever its size, which matters twice: each statement
releases and retakes the GIL, and under many threads each retake may wait.
When every append of the batch creates its stream (NO_STREAM), there is
nothing to read: three statements, the unique index refusing a stream that
exists, SQLite numbering the positions.

Slow path, only when the fast one fails (an event id already stored, by an
idempotent replay or a reused id; or, although every append was validated
first, one that the driver refuses): each append in its own savepoint, so that
one failing append fails alone and the others of the batch go through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from histoire.core.errors import ConcurrencyError, HistoireError, InvalidInputError
from histoire.core.recorded import AppendResult, NewEvent, RecordedEvent
from histoire.core.streams import category_of
from histoire.core.versions import NO_STREAM, ExpectedVersion, check_expected_version
from histoire.store.checks import replayed_result
from histoire.store.sqlite.group_commit import Request

COLUMNS = (
    "event_id, stream_id, version, position, recorded_at, type, schema_version, "
    "data, metadata, causation_id, correlation_id"
)
_INSERT_HEAD = (
    "INSERT INTO histoire_events (position, event_id, stream_id, category, version, type, "
    "schema_version, data, metadata, causation_id, correlation_id, recorded_at) VALUES "
)
_ROW_MARKS = "(?,?,?,?,?,?,?,?,?,?,?,?)"
_ROWS_PER_INSERT = 500  # 12 parameters a row, well under SQLite's 32,766
_HEAD_ONE = (
    "SELECT (SELECT max(version) FROM histoire_events WHERE stream_id = ?), "
    "(SELECT max(position) FROM histoire_events)"
)

_metadata_encode = msgspec.json.Encoder().encode

Outcome = tuple[Request[AppendResult], AppendResult | Exception]


class EventIdTaken(Exception):
    """An event id of the batch is already stored: take the slow path."""


def write_batch(
    conn: sqlite3.Connection,
    batch: list[Request[AppendResult]],
    now: int,
    *,
    new_streams_first: bool = True,
) -> list[Outcome]:
    """Check and insert a batch inside the caller's transaction (fast path)."""
    if new_streams_first and _all_new_streams(batch):
        return _write_new_streams(conn, batch, now)
    versions, last_position = _read_heads(conn, batch)
    outcomes: list[Outcome] = []
    rows: list[Any] = []
    position = last_position + 1
    for request in batch:
        stream_id, events, expected = request.args
        actual = versions.get(stream_id, 0)
        try:
            check_expected_version(stream_id, expected, actual)
        except ConcurrencyError as conflict:
            replay = _replay(conn, stream_id, events, expected)
            outcomes.append((request, replay if replay is not None else conflict))
            continue
        except HistoireError as error:
            outcomes.append((request, error))
            continue
        result = _plan(stream_id, events, actual, position, now, rows)
        versions[stream_id] = result.last_version
        position = result.last_position + 1
        outcomes.append((request, result))
    try:
        _insert(conn, rows)
    except sqlite3.IntegrityError as exc:
        if "event_id" in str(exc):
            raise EventIdTaken from exc
        raise
    return outcomes


def write_one_by_one(
    conn: sqlite3.Connection, batch: list[Request[AppendResult]], now: int
) -> list[Outcome]:
    """Check and insert each append in its own savepoint (slow path)."""
    outcomes: list[Outcome] = []
    for request in batch:
        stream_id, events, expected = request.args
        conn.execute("SAVEPOINT histoire_append")
        try:
            outcome = write_batch(conn, [request], now, new_streams_first=False)[0]
        except Exception as exc:
            conn.execute("ROLLBACK TO histoire_append")
            conn.execute("RELEASE histoire_append")
            if isinstance(exc, EventIdTaken):
                try:
                    replay = _replay(conn, stream_id, events, expected)
                except HistoireError as error:
                    outcomes.append((request, error))
                    continue
                assert replay is not None  # the unique index said the id is stored
                outcomes.append((request, replay))
            elif isinstance(exc, HistoireError | sqlite3.Error):
                outcomes.append((request, exc))
            else:
                outcomes.append((request, _refused(stream_id, exc)))
            continue
        conn.execute("RELEASE histoire_append")
        outcomes.append(outcome)
    return outcomes


def _all_new_streams(batch: list[Request[AppendResult]]) -> bool:
    """Whether every append of the batch creates its own stream (NO_STREAM, no stream twice)."""
    if len(batch) == 1:
        return batch[0].args[2] is NO_STREAM
    return all(r.args[2] is NO_STREAM for r in batch) and len({r.args[0] for r in batch}) == len(
        batch
    )


def _write_new_streams(
    conn: sqlite3.Connection, batch: list[Request[AppendResult]], now: int
) -> list[Outcome]:
    """Insert appends that each create a stream, without reading any head first.

    A stream that exists already has a version 1: the insert is refused (by the
    trigger or the unique (stream_id, version) index) and the caller takes the
    slow path, which reads the heads and reports the conflict. Positions are
    left to SQLite, which gives each row the largest position plus one (the
    writer holds the file's lock, so nobody else inserts meanwhile): the last
    one is read back from the cursor and the plan's positions moved to it.
    """
    rows: list[Any] = []
    planned = []
    position = 1  # planned positions run from 1 over the batch; moved once inserted
    for request in batch:
        result = _plan(request.args[0], request.args[1], 0, position, now, rows)
        planned.append((request, result))
        position = result.last_position + 1
    for i in range(0, len(rows), 12):
        rows[i] = None  # the position: SQLite's to assign
    try:
        last = _insert(conn, rows)
    except sqlite3.IntegrityError as exc:
        if "event_id" in str(exc):
            raise EventIdTaken from exc
        raise
    shift = last - len(rows) // 12  # planned positions start at 1
    outcomes: list[Outcome] = []
    for request, result in planned:
        for record in result.events:
            record.position += shift
        outcomes.append(
            (
                request,
                result._replace(
                    first_position=result.first_position + shift,
                    last_position=result.last_position + shift,
                ),
            )
        )
    return outcomes


def _refused(stream_id: str, exc: Exception) -> InvalidInputError:
    """The error for an append the driver refused although it passed validation."""
    error = InvalidInputError(
        f"append to {stream_id}: SQLite cannot store an event of this append "
        f"({type(exc).__name__}: {exc})"
    )
    error.__cause__ = exc
    return error


def _read_heads(
    conn: sqlite3.Connection, batch: list[Request[AppendResult]]
) -> tuple[dict[str, int], int]:
    if len(batch) == 1:
        stream_id = batch[0].args[0]
        version, last = conn.execute(_HEAD_ONE, (stream_id,)).fetchone()
        return ({stream_id: version} if version else {}), last or 0
    streams = list({request.args[0] for request in batch})
    marks = ",".join("?" * len(streams))
    versions: dict[str, int] = {}
    last = 0
    for stream_id, value in conn.execute(
        f"SELECT stream_id, max(version) FROM histoire_events WHERE stream_id IN ({marks}) "
        "GROUP BY stream_id UNION ALL SELECT NULL, max(position) FROM histoire_events",
        streams,
    ):
        if stream_id is None:
            last = value or 0
        else:
            versions[stream_id] = value
    return versions, last


def _plan(
    stream_id: str,
    events: Sequence[NewEvent],
    actual: int,
    position: int,
    now: int,
    rows: list[Any],
) -> AppendResult:
    category = category_of(stream_id)
    records = []
    for i, e in enumerate(events):
        metadata = _metadata_encode(e.metadata) if e.metadata else b"{}"
        causation = e.causation_id
        correlation = e.correlation_id
        rows.extend(
            (
                position + i,
                e.event_id.bytes,
                stream_id,
                category,
                actual + i + 1,
                e.type,
                e.schema_version,
                e.data,
                metadata,
                causation.bytes if causation is not None else None,
                correlation.bytes if correlation is not None else None,
                now,
            )
        )
        records.append(
            RecordedEvent(
                e.event_id,
                stream_id,
                actual + i + 1,
                position + i,
                now,
                e.type,
                e.schema_version,
                e.data if type(e.data) is bytes else bytes(e.data),
                metadata,  # as JSON: what reads give back, decoded when first used
                causation,
                correlation,
            )
        )
    count = len(events)
    return AppendResult(
        stream_id, actual + 1, actual + count, position, position + count - 1, tuple(records)
    )


def _insert(conn: sqlite3.Connection, flat: list[Any]) -> int:
    """Insert the rows (12 values each, flat); the position of the last row inserted."""
    width = 12
    total = len(flat) // width
    done = 0
    last = 0
    while done < total:
        count = min(_ROWS_PER_INSERT, total - done)
        cursor = conn.execute(
            _INSERT_HEAD + ",".join([_ROW_MARKS] * count),
            flat[done * width : (done + count) * width],
        )
        last = cursor.lastrowid or 0
        done += count
    return last


def _replay(
    conn: sqlite3.Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersion,
) -> AppendResult | None:
    """The first result of these event ids if they are stored (None if none is)."""
    ids = [e.event_id.bytes for e in events]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM histoire_events WHERE event_id IN ({marks})", ids
    ).fetchall()
    if not rows:
        return None
    found = {r.event_id: r for r in (RecordedEvent(*row) for row in rows)}
    return replayed_result(stream_id, events, expected, [found.get(e.event_id) for e in events])
