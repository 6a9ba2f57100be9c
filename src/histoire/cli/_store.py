"""Opening the store a command works on, and closing it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from histoire.store.protocol import EventStore
from histoire.store.urls import open_store


@contextmanager
def opened_store(url: str, *, create: bool) -> Iterator[EventStore]:
    """The store at `url`, closed on exit.

    Read-only commands pass `create=False`: on a store that does not exist they
    fail with StoreNotFoundError and create nothing.
    """
    store = open_store(url, create=create)
    try:
        yield store
    finally:
        store.close()
