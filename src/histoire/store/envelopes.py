"""Envelopes fetched on demand: reads leave out the fields folds never look at.

A fold needs an event's version, type, schema version and payload; a view
usually adds its stream and place in the log. The envelope (event id, time,
metadata, causation and correlation ids) is five more columns per row, which
cost a read as much as the rest (SQLite: 0.4 us of 1.1 us a row; PostgreSQL:
a Python loader call per column). Stores therefore read events without it and
give each batch one `BatchEnvelopes`: the first access to any envelope field
of any event of the batch fetches the envelopes of the whole batch in one
query, by primary key. Events are immutable, so the late read gives what an
eager one would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from histoire.core.errors import StoreError
from histoire.core.recorded import Envelope, RecordedEvent

Where = TypeVar("Where")

EnvelopeFetch = Callable[[Where], Mapping[int, Envelope]]
"""Fetches the envelopes of a batch described by `Where`, by position."""


class BatchEnvelopes(Generic[Where]):
    """The envelopes of one batch of events read without them, fetched together once."""

    __slots__ = ("_fetch", "_found", "_where")

    def __init__(self, fetch: EnvelopeFetch[Where], where: Where) -> None:
        self._fetch = fetch
        self._where = where
        self._found: Mapping[int, Envelope] | None = None

    def envelope(self, record: RecordedEvent) -> Envelope:
        """The envelope of `record`, fetching the batch's on the first call."""
        found = self._found
        if found is None:
            found = self._found = self._fetch(self._where)
        try:
            return found[record.position]
        except KeyError:
            raise StoreError(
                f"the envelope of event {record.stream_id}@{record.version} (position "
                f"{record.position}) is no longer in the store: its row was deleted behind "
                "histoire's back"
            ) from None
