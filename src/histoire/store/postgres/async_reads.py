"""The async PostgreSQL store's stream and log queries: whole rows of `sql.EVENT_COLUMNS`.

Decoded by `sql.event_rows`, in the same order and below the same horizon as
the blocking store's. The blocking store's reads (`reads`) select their own
column order and decode rows with their own builders (`stream_pages`,
`log_batch`); making the async store run those instead of these is the next
step (their paging takes a blocking fetch today).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from psycopg import sql

from histoire.store.postgres.sql import EVENT_COLUMNS, HORIZON


@dataclass(frozen=True)
class WholeReads:
    """Stream and log queries of whole event rows, for one schema."""

    stream_forward: str
    stream_backward: str
    schema: str

    def read_log(self, categories: int, types: bool) -> str:
        """The log keyset query; `categories`: 0 unfiltered, 1 one category, 2 several."""
        return _read_log(self.schema, categories, types)


@cache
def whole_reads(schema: str) -> WholeReads:
    """The whole-row read queries of a store in `schema` (an already validated name)."""
    s = sql.Identifier(schema).as_string(None)
    return WholeReads(
        schema=schema,
        stream_forward=(
            f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version >= %s "
            "ORDER BY version LIMIT %s"
        ),
        stream_backward=(
            f"SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version <= %s "
            "ORDER BY version DESC LIMIT %s"
        ),
    )


@cache
def _read_log(schema: str, categories: int, types: bool) -> str:
    # The horizon outside the LIMIT, as in `reads`: the batch is an index range
    # scan in (xid, position) order, cut where the horizon starts.
    s = sql.Identifier(schema).as_string(None)
    where = ["(xid, position) > (%s::bigint, %s::bigint)"]
    if categories == 1:
        where.append("category = %s")
    elif categories:
        where.append("category = ANY(%s::text[])")
    if types:
        where.append("type = ANY(%s::text[])")
    return (
        f"SELECT {EVENT_COLUMNS} FROM (SELECT {EVENT_COLUMNS} FROM {s}.events "
        f"WHERE {' AND '.join(where)} ORDER BY xid, position LIMIT %s) AS batch "
        f"WHERE xid < {HORIZON} ORDER BY xid, position"
    )
