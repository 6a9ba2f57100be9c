"""Event stores: the protocol and its backends (memory, SQLite, PostgreSQL)."""
