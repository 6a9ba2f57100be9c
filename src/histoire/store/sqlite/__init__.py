"""The SQLite backend: the embedded default, one file, nothing to start.

`store` is the event store; around it, one concept per module: URL options
and connections (`connect`), the schema (`schema`, `migrations/`), the
group-committed write transaction (`group_commit`, `writer`), the write lock
shared between processes (`turns`), error conversion (`errors`) and the
storage self-checks (`checks`).
"""

from histoire.store.sqlite.store import SQLiteEventStore, durability_from_url, sqlite_path_from_url

__all__ = ["SQLiteEventStore", "durability_from_url", "sqlite_path_from_url"]
