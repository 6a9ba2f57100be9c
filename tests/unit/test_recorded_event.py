"""RecordedEvent: built from a row in C, the same record whichever way it is built."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid

from histoire import RecordedEvent
from histoire.core.recorded import build_recorded

EVENT_ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CAUSE = uuid.UUID("5c1e3b2a-0f6d-4e8a-9b7c-1d2e3f4a5b6c")
MICROS = 1_700_000_000_123_456


def _row() -> tuple[object, ...]:
    return (
        EVENT_ID.bytes, "account-1", 3, 42, MICROS, "bank.Deposited", 1,
        b'{"amount_cents":100}', b'{"who":"ann"}', CAUSE.bytes, None, 7,
    )  # fmt: skip


def test_keywords_and_a_row_build_the_same_record() -> None:
    """The public names are keywords; a store's row builds the same record positionally."""
    by_name = RecordedEvent(
        event_id=EVENT_ID,
        stream_id="account-1",
        version=3,
        position=42,
        recorded_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=MICROS),
        type="bank.Deposited",
        schema_version=1,
        data=b'{"amount_cents":100}',
        metadata={"who": "ann"},
        causation_id=CAUSE,
        correlation_id=None,
        commit=7,
    )
    from_row = build_recorded(*_row())
    assert type(from_row) is RecordedEvent
    assert from_row == by_name
    assert (from_row.event_id, from_row.causation_id, from_row.correlation_id) == (
        EVENT_ID,
        CAUSE,
        None,
    )
    assert from_row.metadata == {"who": "ann"}
    assert from_row.recorded_at == by_name.recorded_at
    assert from_row.checkpoint == (7, 42)


def test_a_record_from_a_row_pickles_whole() -> None:
    """A pickled record carries its converted envelope and equals the original."""
    record = build_recorded(*_row())
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record
    assert copy.metadata == {"who": "ann"} and copy.commit == 7
