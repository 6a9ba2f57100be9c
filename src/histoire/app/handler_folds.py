"""The command handler's folds, free of any I/O style: a page of a stream into a state.

Part of `handler_core`: generators that yield their store requests.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Generic, TypeVar

from histoire.codec.codec import Codec
from histoire.core.decider import Decider
from histoire.core.errors import CodecError
from histoire.core.messages import Event
from histoire.core.recorded import PayloadRow, RecordedEvent
from histoire.core.stored_fields import UNDECODABLE

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=Event)
T = TypeVar("T")

Request = tuple[str, tuple[Any, ...]]
Steps = Generator[Request, Any, T]


def read_request(stream_id: str, from_version: int, limit: int) -> Request:
    """The request for one page of a stream: `limit` events from `from_version`."""
    return ("read", (stream_id, from_version, limit))


class _NeedsRecord(Exception):
    """A stored event needs more than its payload row to decode (an upcast)."""


_FALL_BACK: tuple[type[Exception], ...] = (_NeedsRecord, CodecError, TypeError, *UNDECODABLE)
"""What sends a fold from payload rows back to whole records (which say what is wrong)."""


class FoldSteps(Generic[C, S, E]):
    """Folding a stream's events into a state, a page per request."""

    decider: Decider[C, S, E]
    codec: Codec

    def _fold_page(
        self, stream_id: str, state: S, version: int, limit: int
    ) -> Steps[tuple[int, S, int]]:
        """Fold up to `limit` events of `stream_id` after `version`: (how many, state, version).

        The hot path of every command reads (version, type, schema_version, data)
        rows, no RecordedEvent; the decoder is looked up again only when the type
        changes. An upcast, or a bad row, takes the records' path, which names
        what is wrong.
        """
        if self.decider.evolve_recorded is None:
            evolve = self.decider.evolve
            decoder = self.codec.decoder
            rows: list[PayloadRow] = yield ("read_payloads", (stream_id, version + 1, limit))
            folded, at = state, version
            kind, schema_version, decode = "", 0, None
            try:
                for at, row_kind, row_schema_version, data in rows:  # noqa: B007 (the version)
                    if row_kind != kind or row_schema_version != schema_version:
                        kind, schema_version = row_kind, row_schema_version
                        decode = decoder(kind, schema_version)
                        if decode is None:
                            raise _NeedsRecord
                    folded = evolve(folded, decode(data))  # type: ignore[arg-type,misc]
                return len(rows), folded, at
            except _FALL_BACK:
                pass
        records: list[RecordedEvent] = yield read_request(stream_id, version + 1, limit)
        state, version = self._fold(state, version, records)
        return len(records), state, version

    def _fold(self, state: S, version: int, records: Sequence[RecordedEvent]) -> tuple[S, int]:
        """The state and version after folding stored `records` into `state`."""
        decode = self.codec.decode
        evolve_recorded = self.decider.evolve_recorded
        if evolve_recorded is None:
            evolve = self.decider.evolve
            for record in records:
                state = evolve(state, decode(record))  # type: ignore[arg-type]
                version = record.version
        else:
            for record in records:
                state = evolve_recorded(state, decode(record), record)  # type: ignore[arg-type]
                version = record.version
        return state, version
