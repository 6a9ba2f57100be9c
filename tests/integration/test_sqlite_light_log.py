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


def test_an_envelope_asked_for_after_the_store_closed_is_still_read(tmp_path: Path) -> None:
    """A light record kept after its store is closed reads its envelope through a connection
    of its own; once the file is gone, StoreError saying so, not a crash."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    appended = store.append("thing-1", [event(1), event(2)]).events
    kept, gone = store.read_log_light(batch_size=1)  # type: ignore[attr-defined]
    assert kept.stream_id == "thing-1" and kept.data == b'{"n":1}'
    store.close()
    assert kept.metadata == appended[0].metadata and kept.event_id == appended[0].event_id
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(StoreError, match="closed"):
        gone.metadata  # noqa: B018
