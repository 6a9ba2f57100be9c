"""The write side of the SQLite store: the statements of an append, or of a batch of them.

Each statement costs twice: SQLite's work, and the driver's call around it,
which releases and retakes the GIL (under many threads each retake may wait).
So an append takes as few statements as it can:

- A lone append (a batch of one) that creates its stream (NO_STREAM) or
  expects an exact version is ONE statement in autocommit mode, which is a
  transaction of its own: a multi-row INSERT, which the unique (stream_id,
  version) index refuses if the stream has an event at the first new
  version; with an expected version v >= 1 the rows are inserted only if the
  stream has an event v (`WHERE EXISTS`). Versions have no hole, so both
  together say that the stream's version is exactly v. If the statement
  inserts nothing or fails, the batch's path below runs instead and tells why.
  The `WHERE EXISTS` is left out when the store has seen event v committed
  (`floors`: a command's load has just read it): stored events are never
  deleted, so it is there still. An INSERT that reads its own table goes
  through a temporary table: the guarded statement cost a W2 command 39,000
  instructions more than the plain one (docs/benchmarks.md). Its rows bind
  what they share (stream, category, time, version before) once.
- A batch: BEGIN IMMEDIATE, one query for the versions of its streams (none
  when every append creates its stream), the expected versions checked in
  Python, multi-row INSERTs, COMMIT.

Positions are SQLite's: the column is left out, so each row gets the largest
position plus one (the writer holds the file's write lock: nobody inserts
meanwhile, and the rows of one statement get consecutive positions); the last
one is read back from the cursor (the position would otherwise be a
parameter, and each non-int, non-str parameter costs the driver a look for an
adapter: see `_ROW`).

Slow path, only when the batch's path fails (an event id already stored, by an
idempotent replay or a reused id; or, although every append was validated
first, one that the driver refuses): each append in its own savepoint, so that
one failing append fails alone and the others of the batch go through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from histoire.core.append_result import AppendResult, Unbuilt, build_append_result
from histoire.core.errors import ConcurrencyError, HistoireError, InvalidInputError
from histoire.core.recorded import NewEvent, RecordedEvent, build_recorded
from histoire.core.streams import category_of
from histoire.core.versions import NO_STREAM, ExpectedVersion, check_expected_version
from histoire.store.checks import repeated_id_error, replayed_result
from histoire.store.sqlite.group_commit import Request

COLUMNS = (
    "event_id, stream_id, version, position, recorded_at, type, schema_version, "
    "data, metadata, causation_id, correlation_id"
)
_INSERT_HEAD = (
    "INSERT INTO histoire_events (event_id, stream_id, category, version, type, "
    "schema_version, data, metadata, causation_id, correlation_id, recorded_at) "
)
# The driver binds int, str and bytearray values as they are, but looks for an
# adapter for every other value (bytes, None): a key tuple, a dict lookup, and
# on Python 3.11 an AttributeError formatted and cleared, about 3,300
# instructions a value. So blobs go as bytearrays (a copy costs about 1,000),
# and an empty metadata and a missing causation or correlation id go as 0,
# which SQL turns back into what is stored ({} and NULL) (docs/benchmarks.md).
# `_BLOB + value` is a new bytearray, built faster than by `bytearray(value)` (no
# call through the type: 42 ns against 70); `_BLOB` itself stays empty.
_BLOB = bytearray()
_ROW = "(?,?,?,?,?,?,?,ifnull(nullif(?,0),X'7B7D'),nullif(?,0),nullif(?,0),?)"
_WIDTH = 11  # values a row
_ROWS_PER_INSERT = 500  # 11 parameters a row, well under SQLite's 32,766
# A lone append's rows share their stream, category, recorded_at and the version
# before them: bound once (?1 to ?4), each row's version is ?4 plus its rank, and
# a row binds its own 7 values only (each bound value costs the driver 300-800
# instructions). When no event of the append has metadata, a causation or a
# correlation id (a bulk import, say), those are constants of the SQL text and a
# row binds 4 values ("plain" rows).
_SHARED = 4
_LONE_WIDTH = 7
_PLAIN_WIDTH = 4
_IF_AT_VERSION = (
    "WHERE EXISTS (SELECT 1 FROM histoire_events WHERE stream_id = ?1 AND version = ?4)"
)
_VERSION_ONE = "SELECT max(version) FROM histoire_events WHERE stream_id = ?"

_metadata_encode = msgspec.json.Encoder().encode
# The INSERT of n rows, built once (its text is the driver's cache key), for
# the first _TEXTS_KEPT row counts seen.
_inserts: dict[int, str] = {}
# Lone statements by (rows, plain).
_lone_inserts: dict[tuple[int, bool], str] = {}
_guarded_inserts: dict[tuple[int, bool], str] = {}
_TEXTS_KEPT = 128
_BUILT_LATER_FROM = 16  # events: an append's records are built on first access (`results`)

Outcome = tuple[Request[AppendResult], AppendResult | Exception]
Planned = tuple[Request[AppendResult], str, tuple[NewEvent, ...], int, list[bytes]]
"""An accepted append: its request, stream, events, version before, metadata as stored.

The events are a tuple of our own and each one's data is bytes: its records
are built from them later (`results`), when the caller may have changed its list
or a bytearray it gave."""


class EventIdTaken(Exception):
    """An event id of the batch is already stored: take the slow path."""


def lone_statement(
    request: Request[AppendResult], now: int, floors: Mapping[str, int]
) -> tuple[str, list[Any], Planned] | None:
    """The one statement that does `request`'s append alone, in autocommit mode (see above).

    None if its expected version is neither NO_STREAM nor a number: it takes the
    batch's path. The statement has done the append if it inserted rows.
    `floors` maps streams to a version each is known to have (committed).
    """
    stream_id, events, expected = request.args
    if len(events) > _ROWS_PER_INSERT:
        return None  # the batch's path splits it into several INSERTs
    if expected is NO_STREAM:
        actual = 0
    elif type(expected) is int:
        actual = expected
    else:
        return None
    category = category_of(stream_id)
    rows: list[Any] = [stream_id, category, now, actual]
    first = events[0]
    planned = None
    if not first.metadata and first.causation_id is None and first.correlation_id is None:
        planned = _plan_plain(request, stream_id, events, actual, rows)
    key = (len(events), planned is not None)
    if planned is None:
        planned = _plan(request, stream_id, category, events, actual, now, rows, shared=True)
    if actual == 0 or floors.get(stream_id, 0) >= actual:
        sql = _lone_inserts.get(key) or _lone_insert_sql(key)
    else:
        sql = _guarded_inserts.get(key) or _guarded_insert_sql(key)
    return sql, rows, planned


def write_batch(
    conn: sqlite3.Connection,
    batch: list[Request[AppendResult]],
    now: int,
    *,
    new_streams_first: bool = True,
) -> list[Outcome]:
    """Check and insert a batch inside the caller's transaction (fast path)."""
    if new_streams_first and _all_new_streams(batch):
        versions: dict[str, int] = {}
    else:
        versions = _read_versions(conn, batch)
    outcomes: list[Outcome] = []
    accepted: list[Planned] = []
    rows: list[Any] = []
    for request in batch:
        stream_id, events, expected = request.args
        # Left out of the store's validation: a lone append that gives an id
        # twice is refused by the unique index, and then comes here.
        repeated = repeated_id_error(stream_id, events)
        if repeated is not None:
            outcomes.append((request, repeated))
            continue
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
        category = category_of(stream_id)
        accepted.append(_plan(request, stream_id, category, events, actual, now, rows))
        versions[stream_id] = actual + len(events)
    if not rows:
        return outcomes
    try:
        last = _insert(conn, rows)
    except sqlite3.IntegrityError as exc:
        if "event_id" in str(exc):
            raise EventIdTaken from exc
        raise
    return outcomes + results(accepted, last - len(rows) // _WIDTH + 1, now)


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
            elif isinstance(exc, HistoireError) or (
                # The version was checked in this transaction: an IntegrityError
                # now is a value that SQLite refuses (NOT NULL, CHECK).
                isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError)
            ):
                outcomes.append((request, exc))
            else:
                outcomes.append((request, _refused(stream_id, exc)))
            continue
        conn.execute("RELEASE histoire_append")
        outcomes.append(outcome)
    return outcomes


def results(accepted: list[Planned], position: int, now: int) -> list[Outcome]:
    """The outcomes of the accepted appends, whose rows got positions from `position` on.

    The events of an append of `_BUILT_LATER_FROM` events or more are built on
    first access (`Unbuilt`): a bulk import seldom looks at them. A command's
    few events are built at once: its handler reads them, and building them
    later costs an append 1,900 instructions more.
    """
    outcomes: list[Outcome] = []
    for request, stream_id, events, actual, metadata in accepted:
        count = len(events)
        result = build_append_result(
            stream_id,
            actual + 1,
            actual + count,
            position,
            position + count - 1,
            _records(stream_id, events, actual, position, now, metadata)
            if count < _BUILT_LATER_FROM
            else Unbuilt(_records, stream_id, events, actual, position, now, metadata),
        )
        outcomes.append((request, result))
        position += count
    return outcomes


def _records(
    stream_id: str,
    events: tuple[NewEvent, ...],
    actual: int,
    position: int,
    now: int,
    metadata: list[bytes],
) -> tuple[RecordedEvent, ...]:
    """The records of an append's events, stored after version `actual` from `position` on."""
    records = []
    version = actual
    for e, meta in zip(events, metadata, strict=True):
        version += 1
        records.append(
            build_recorded(
                e.event_id,
                stream_id,
                version,
                position,
                now,
                e.type,
                e.schema_version,
                e.data,  # bytes (see _plan)
                meta,  # as JSON: what reads give back, decoded when first used
                e.causation_id,
                e.correlation_id,
            )
        )
        position += 1
    return tuple(records)


def _all_new_streams(batch: list[Request[AppendResult]]) -> bool:
    """Whether every append of the batch creates its own stream (NO_STREAM, no stream twice).

    A stream that exists already has a version 1: the insert is then refused (by
    the trigger or the unique (stream_id, version) index) and the caller takes
    the slow path, which reads the versions and reports the conflict.
    """
    if len(batch) == 1:
        return batch[0].args[2] is NO_STREAM
    return all(r.args[2] is NO_STREAM for r in batch) and len({r.args[0] for r in batch}) == len(
        batch
    )


def _refused(stream_id: str, exc: Exception) -> InvalidInputError:
    """The error for an append the driver refused although it passed validation."""
    error = InvalidInputError(
        f"append to {stream_id}: SQLite cannot store an event of this append "
        f"({type(exc).__name__}: {exc})"
    )
    error.__cause__ = exc
    return error


def _read_versions(conn: sqlite3.Connection, batch: list[Request[AppendResult]]) -> dict[str, int]:
    """The version of each stream of the batch (streams without events left out)."""
    if len(batch) == 1:
        stream_id = batch[0].args[0]
        (version,) = conn.execute(_VERSION_ONE, (stream_id,)).fetchone()
        return {stream_id: version} if version else {}
    streams = list({request.args[0] for request in batch})
    marks = ",".join("?" * len(streams))
    return dict(
        conn.execute(
            f"SELECT stream_id, max(version) FROM histoire_events WHERE stream_id IN ({marks}) "
            "GROUP BY stream_id",
            streams,
        ).fetchall()
    )


def _plan_plain(
    request: Request[AppendResult],
    stream_id: str,
    events: Sequence[NewEvent],
    actual: int,
    rows: list[Any],
) -> Planned | None:
    """Add the plain rows of a lone append to `rows` (see `_PLAIN_WIDTH`); what `results`
    needs. None, `rows` left as they were, if an event has metadata, a causation or
    correlation id, or data other than bytes."""
    add = rows.extend
    for e in events:
        data = e.data
        if (
            e.metadata
            or e.causation_id is not None
            or e.correlation_id is not None
            or type(data) is not bytes
        ):
            del rows[_SHARED:]
            return None
        add(
            (
                _BLOB + e.event_id.int.to_bytes(16, "big"),
                e.type,
                e.schema_version,
                _BLOB + data,
            )
        )
    return request, stream_id, tuple(events), actual, [b"{}"] * len(events)


def _plan(
    request: Request[AppendResult],
    stream_id: str,
    category: str,
    events: Sequence[NewEvent],
    actual: int,
    now: int,
    rows: list[Any],
    *,
    shared: bool = False,
) -> Planned:
    """Add the rows of an append after version `actual` to `rows`; what `results` needs.

    `shared`: the rows of a lone statement, without the values its rows share.
    """
    metadata = []
    version = actual
    add = rows.extend
    copied = False
    for e in events:
        version += 1
        data = e.data
        if type(data) is not bytes:
            copied = True
        meta: bytearray | int = 0
        if e.metadata:
            encoded = _metadata_encode(e.metadata)
            metadata.append(encoded)
            meta = _BLOB + encoded
        else:
            metadata.append(b"{}")
        causation = e.causation_id
        correlation = e.correlation_id
        cause: bytearray | int = 0
        if causation is not None:
            # UUID.bytes, without its property's Python frame
            cause = _BLOB + causation.int.to_bytes(16, "big")
        correlate: bytearray | int = cause
        if correlation is not causation:
            correlate = 0 if correlation is None else _BLOB + correlation.int.to_bytes(16, "big")
        if shared:
            add(
                (
                    _BLOB + e.event_id.int.to_bytes(16, "big"),
                    e.type,
                    e.schema_version,
                    _BLOB + data,
                    meta,
                    cause,
                    correlate,
                )
            )
            continue
        add(
            (
                _BLOB + e.event_id.int.to_bytes(16, "big"),
                stream_id,
                category,
                version,
                e.type,
                e.schema_version,
                _BLOB + data,
                meta,
                cause,
                correlate,
                now,
            )
        )
    if copied:  # data given as a bytearray or a memoryview: kept as it is now
        return request, stream_id, _with_bytes(events), actual, metadata
    return request, stream_id, tuple(events), actual, metadata


def _with_bytes(events: Sequence[NewEvent]) -> tuple[NewEvent, ...]:
    """`events`, each with its data as bytes."""
    return tuple(
        e if type(e.data) is bytes else msgspec.structs.replace(e, data=bytes(e.data))
        for e in events
    )


def _insert_sql(count: int) -> str:
    row_placeholders = ",".join([_ROW] * count)
    sql = f"{_INSERT_HEAD}VALUES {row_placeholders}"
    if len(_inserts) < _TEXTS_KEPT:
        _inserts[count] = sql
    return sql


def _lone_rows(count: int, plain: bool) -> str:
    rows = []
    for rank in range(count):
        if plain:
            p = _SHARED + rank * _PLAIN_WIDTH
            rows.append(
                f"(?{p + 1},?1,?2,?4+{rank + 1},?{p + 2},?{p + 3},?{p + 4},X'7B7D',NULL,NULL,?3)"
            )
            continue
        p = _SHARED + rank * _LONE_WIDTH
        rows.append(
            f"(?{p + 1},?1,?2,?4+{rank + 1},?{p + 2},?{p + 3},?{p + 4},"
            f"ifnull(nullif(?{p + 5},0),X'7B7D'),nullif(?{p + 6},0),nullif(?{p + 7},0),?3)"
        )
    return ",".join(rows)


def _lone_insert_sql(key: tuple[int, bool]) -> str:
    sql = f"{_INSERT_HEAD}VALUES {_lone_rows(*key)}"
    if len(_lone_inserts) < _TEXTS_KEPT:
        _lone_inserts[key] = sql
    return sql


def _guarded_insert_sql(key: tuple[int, bool]) -> str:
    sql = f"{_INSERT_HEAD}SELECT * FROM (VALUES {_lone_rows(*key)}) {_IF_AT_VERSION}"
    if len(_guarded_inserts) < _TEXTS_KEPT:
        _guarded_inserts[key] = sql
    return sql


def _insert(conn: sqlite3.Connection, flat: list[Any]) -> int:
    """Insert the rows (`_WIDTH` values each, flat); the position of the last row inserted."""
    total = len(flat) // _WIDTH
    if total <= _ROWS_PER_INSERT:
        return conn.execute(_inserts.get(total) or _insert_sql(total), flat).lastrowid or 0
    done = 0
    last = 0
    while done < total:
        count = min(_ROWS_PER_INSERT, total - done)
        cursor = conn.execute(
            _inserts.get(count) or _insert_sql(count),
            flat[done * _WIDTH : (done + count) * _WIDTH],
        )
        last = cursor.lastrowid or 0
        done += count
    return last


def lone_outcome(cursor: sqlite3.Cursor, planned: Planned, now: int) -> Outcome | None:
    """The outcome of a `lone_statement` that `cursor` ran; None if it inserted nothing."""
    if cursor.rowcount < 1:
        return None
    first = (cursor.lastrowid or 0) - len(planned[2]) + 1
    return results([planned], first, now)[0]


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
    found = {r.event_id: r for r in (build_recorded(*row) for row in rows)}
    return replayed_result(stream_id, events, expected, [found.get(e.event_id) for e in events])
