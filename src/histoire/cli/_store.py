"""Opening the store (and the broker) a command works on, and closing them afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from histoire.brokers import Broker, open_broker
from histoire.store.protocol import EventStore
from histoire.store.urls import open_store


@contextmanager
def opened_store(url: str, *, read_only: bool) -> Iterator[EventStore]:
    """The store at `url`, closed on exit.

    Read-only commands pass `read_only=True`: the store is opened without ever
    writing to it (a read-only file or folder is fine, and no file is left
    behind); on a store that does not exist they fail with StoreNotFoundError.
    """
    store = open_store(url, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def opened_broker(url: str | None) -> Iterator[Broker | None]:
    """The broker at `url` (None without one), closed on exit."""
    if url is None:
        yield None
        return
    broker = open_broker(url)
    try:
        yield broker
    finally:
        broker.close()
