"""The store contract, run over every backend of tests/conftest.py (memory, SQLite, PostgreSQL)."""

from histoire.testing.contract import EventStoreContract


class TestEventStore(EventStoreContract):
    """Every backend passes the contract that ships with histoire."""
