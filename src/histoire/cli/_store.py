"""Opening the store (and the broker) a command works on, and closing them afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from histoire.brokers import Broker, open_broker
from histoire.cli._worker import reach
from histoire.store.protocol import EventStore
from histoire.store.urls import open_store


@contextmanager
def opened_store(url: str, *, read_only: bool, wait: bool = False) -> Iterator[EventStore]:
    """The store at `url`, closed on exit.

    Read-only commands pass `read_only=True`: the store is opened without ever
    writing to it (a read-only file or folder is fine, and no file is left
    behind); on a store that does not exist they fail with StoreNotFoundError.
    Live workers pass `wait=True`: a store not reachable yet is waited for
    (`reach`).
    """
    store = reach(lambda: open_store(url, read_only=read_only), "the store", wait=wait)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def opened_broker(url: str | None, *, wait: bool = False) -> Iterator[Broker | None]:
    """The broker at `url` (None without one), closed on exit; `wait` as for the store."""
    if url is None:
        yield None
        return
    broker = reach(lambda: open_broker(url), "the broker", wait=wait)
    try:
        yield broker
    finally:
        broker.close()
