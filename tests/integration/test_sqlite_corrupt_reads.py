"""Folding a stream with a row edited behind histoire's back raises CorruptEventError
naming the row, never a raw TypeError or ValueError."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from histoire import CommandHandler, CorruptEventError, StoreError, open_store
from histoire.examples import bank

NO_UPDATE = (
    "CREATE TRIGGER histoire_events_no_update BEFORE UPDATE ON histoire_events "
    "BEGIN SELECT RAISE(ABORT, 'histoire: stored events are immutable (UPDATE refused)'); END"
)


def load(handler: CommandHandler[Any, Any, Any]) -> object:
    return handler.load("account-1")


def load_as_of(handler: CommandHandler[Any, Any, Any]) -> object:
    return handler.load("account-1", as_of=dt.datetime.now(dt.UTC))


def event_ids(handler: CommandHandler[Any, Any, Any]) -> object:
    return [r.event_id for r in handler.store.read_log()]


def metadata(handler: CommandHandler[Any, Any, Any]) -> object:
    return [r.metadata for r in handler.store.read_stream("account-1")]


@pytest.mark.parametrize(
    ("assignment", "field", "read"),
    [
        ("data = 1.5", "data", load),
        ("data = -3", "data", load),
        ("version = 'two'", "version", load),
        ("schema_version = 'one'", "schema_version", load),
        ("type = X'41'", "type", load),
        ("recorded_at = 'yesterday'", "recorded_at", load_as_of),
        ("event_id = X'0102'", "event_id", event_ids),
        ("metadata = 7", "metadata", metadata),
    ],
)
def test_reading_an_edited_row_names_it(
    tmp_path: Path, assignment: str, field: str, read: Callable[..., object]
) -> None:
    """The error is a StoreError carrying the row's position, stream and field."""
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    store = open_store(url)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    handler.handle("account-1", bank.Deposit(amount_cents=500))
    store.close()
    conn = sqlite3.connect(tmp_path / "bank.db")
    conn.execute("DROP TRIGGER histoire_events_no_update")
    conn.execute(f"UPDATE histoire_events SET {assignment} WHERE position = 2")
    conn.execute(NO_UPDATE)
    conn.commit()
    conn.close()
    store = open_store(url, create=False)
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    try:
        with pytest.raises(CorruptEventError) as caught:
            read(handler)
    finally:
        store.close()
    assert isinstance(caught.value, StoreError)
    assert (caught.value.position, caught.value.stream_id, caught.value.field) == (
        2,
        "account-1",
        field,
    )
    assert "the event at position 2 (stream 'account-1'" in str(caught.value)
