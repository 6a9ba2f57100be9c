"""Store contract tests of read-only handles: they read everything and write nothing."""

from __future__ import annotations

import threading

import pytest

from histoire.core.errors import ReadOnlyStoreError
from histoire.store.protocol import Snapshot
from histoire.testing._contract.support import (
    StoreFactory,
    assert_nothing_written,
    fill,
    new_events,
    settled_log,
    within,
)


class ReadOnlyContract:
    """A store opened with `read_only=True`: auditors, backups, inspection commands."""

    def test_a_read_only_handle_reads_what_a_writer_stored(
        self, store_factory: StoreFactory
    ) -> None:
        """Every read of a read-only handle gives what the writing handle gives."""
        writer = store_factory()
        recorded = fill(writer)
        reader = store_factory(read_only=True)
        assert settled_log(reader) == settled_log(writer)
        assert list(reader.read_stream("account-1")) == list(writer.read_stream("account-1"))
        assert reader.stream_version("cart-1") == 4
        assert reader.get_event(recorded[0].event_id) == recorded[0]
        assert list(reader.list_streams()) == list(writer.list_streams())
        assert reader.head() == writer.head()

    def test_a_read_only_handle_refuses_every_write(self, store_factory: StoreFactory) -> None:
        """append and save_snapshot raise ReadOnlyStoreError and write nothing."""
        writer = store_factory()
        writer.append("account-1", new_events(1))
        before = settled_log(writer)
        reader = store_factory(read_only=True)
        with pytest.raises(ReadOnlyStoreError) as raised:
            reader.append("account-1", new_events(1))
        assert "read-only" in str(raised.value)
        snapshot = Snapshot(stream_id="account-1", version=1, schema_version=1, data=b"{}")
        with pytest.raises(ReadOnlyStoreError):
            reader.save_snapshot(snapshot)
        assert_nothing_written(writer, before, "account-1", 1)
        assert writer.load_snapshot("account-1", schema_version=1) is None

    def test_a_read_only_follower_sees_later_appends(self, store_factory: StoreFactory) -> None:
        """A read-only handle waiting on the log wakes when another handle appends."""
        writer = store_factory()
        writer.append("account-1", new_events(1))
        reader = store_factory(read_only=True)
        head = settled_log(reader)[-1].checkpoint
        appender = threading.Timer(0.2, lambda: writer.append("account-1", new_events(1)))
        appender.start()
        try:
            assert within(30, lambda: reader.wait_for_events(head, timeout=20)) is True
        finally:
            appender.join()
        assert [e.version for e in reader.read_log(head)] == [2]
