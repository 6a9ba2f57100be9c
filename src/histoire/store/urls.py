"""Opening a store from a URL: `memory://`, `sqlite:///path`, `postgresql://...`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from histoire.core.errors import InvalidStoreURLError
from histoire.store.protocol import EventStore

SCHEMES = ("memory", "sqlite", "postgresql", "postgres")


def open_store(url: str, *, create: bool = True, **options: Any) -> EventStore:
    """Open the event store at `url`.

    `create=False` opens an existing store only and raises StoreNotFoundError
    otherwise (read-only commands use it, so that no empty database is made).
    Other keyword options go to the backend (for SQLite: `durability`, and
    `into_existing_database=True` to create a store in a file that holds another
    application's tables, which is refused otherwise).
    """
    if not isinstance(url, str) or not url:
        raise InvalidStoreURLError(
            str(url), "empty; use memory://, sqlite:///PATH or postgresql://"
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from histoire.store.memory import MemoryEventStore

        return MemoryEventStore(url, **options)
    if scheme == "sqlite":
        from histoire.store.sqlite import (
            SQLiteEventStore,
            durability_from_url,
            sqlite_path_from_url,
        )

        options.setdefault("durability", durability_from_url(url))
        return SQLiteEventStore(sqlite_path_from_url(url), create=create, **options)
    if scheme in ("postgresql", "postgres"):
        try:
            from histoire.store.postgres import PostgresEventStore
        except ImportError as exc:
            raise InvalidStoreURLError(
                url,
                f"PostgreSQL support is not installed ({exc}); pip install 'histoire[postgres]'",
            ) from exc
        return PostgresEventStore(url, create=create, **options)
    raise InvalidStoreURLError(
        url, f"unknown scheme {scheme!r}; use one of memory://, sqlite:///PATH, postgresql://"
    )
