"""Opening a store from a URL: `memory://`, `sqlite:///path`, `postgresql://...`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from histoire.core.errors import InvalidStoreURLError
from histoire.store.protocol import EventStore

SCHEMES = ("memory", "sqlite", "postgresql", "postgres")


def open_store(
    url: str, *, create: bool = True, read_only: bool = False, **options: Any
) -> EventStore:
    """Open the event store at `url`.

    `create=False` opens an existing store only and raises StoreNotFoundError
    otherwise, so that no empty database is made. `read_only=True` (or
    `?mode=ro` in an SQLite URL) opens an existing store that this handle never
    writes to, even on a read-only file or folder: appends and snapshots raise
    ReadOnlyStoreError; the inspection commands of the command line use it.
    Every backend takes `max_event_size`, the bound of one event's data plus
    metadata in bytes (1 MiB by default; `?max_event_size=` in an SQLite URL).
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

        return MemoryEventStore(url, read_only=read_only, **options)
    if scheme == "sqlite":
        from histoire.store.sqlite import SQLiteEventStore
        from histoire.store.sqlite.connect import options_from_url, sqlite_path_from_url

        given = options_from_url(url)
        read_only = given.pop("read_only", False) or read_only
        return SQLiteEventStore(
            sqlite_path_from_url(url), create=create, read_only=read_only, **{**given, **options}
        )
    if scheme in ("postgresql", "postgres"):
        try:
            from histoire.store.postgres import PostgresEventStore
        except ImportError as exc:
            raise InvalidStoreURLError(
                url,
                f"PostgreSQL support is not installed ({exc}); pip install 'histoire[postgres]'",
            ) from exc
        return PostgresEventStore(url, create=create, read_only=read_only, **options)
    raise InvalidStoreURLError(
        url, f"unknown scheme {scheme!r}; use one of memory://, sqlite:///PATH, postgresql://"
    )
