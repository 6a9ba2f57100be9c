"""SQLite's log read without the envelope (`read_log_light`): the envelope comes on first use."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from histoire import NewEvent, StoreError, open_store
from histoire.codec.ids import new_event_id
from histoire.core.recorded import Unread


def event(n: int) -> NewEvent:
    return NewEvent(
        event_id=new_event_id(),
        type="thing.Happened",
        schema_version=1,
        data=b'{"n":%d}' % n,
        metadata={"n": n},
        causation_id=uuid.uuid4() if n % 2 else None,
        correlation_id=uuid.uuid4(),
    )


def test_light_records_are_equal_to_whole_ones_field_by_field(tmp_path: Path) -> None:
    """Each field of a light record, envelope included, is the stored one; filters and
    batches are those of read_log (the envelope read in chunks past 500 events)."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    for n in range(1200):
        store.append(f"{'thing' if n % 3 else 'other'}-{n % 7}", [event(n)])
    whole = list(store.read_log(categories=["thing"], batch_size=700))
    light = list(store.read_log_light(categories=["thing"], batch_size=700))  # type: ignore[attr-defined]
    assert isinstance(light[0]._event_id, Unread)
    assert [r.position for r in light] == [r.position for r in whole]
    assert light == whole  # every field compared, the envelope read on the way
    store.close()


def test_an_envelope_asked_for_after_the_store_closed_is_a_clear_error(tmp_path: Path) -> None:
    """The envelope of a light record needs its store: after close, StoreError, not a crash."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.append("thing-1", [event(1)])
    (record,) = store.read_log_light()  # type: ignore[attr-defined]
    assert record.stream_id == "thing-1" and record.data == b'{"n":1}'
    store.close()
    with pytest.raises(StoreError):
        record.metadata  # noqa: B018
