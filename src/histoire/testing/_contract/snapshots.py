"""Store contract tests of saving and loading snapshots."""

from __future__ import annotations

import datetime as dt

from histoire.core.recorded import START
from histoire.store.protocol import Snapshot
from histoire.testing._contract.support import (
    StoreFactory,
    settled_log,
)


class SnapshotContract:
    """Saving and loading snapshots."""

    # -- snapshots -------------------------------------------------------------------

    def test_no_snapshot_loads_as_none(self, store_factory: StoreFactory) -> None:
        """A stream with no snapshot loads None."""
        store = store_factory()
        assert store.load_snapshot("account-1", schema_version=1) is None

    def test_a_snapshot_round_trips(self, store_factory: StoreFactory) -> None:
        """A saved snapshot loads back with its stream, version, schema version and data."""
        store = store_factory()
        store.save_snapshot(
            Snapshot(stream_id="account-1", version=5, schema_version=2, data=b'{"balance":7}')
        )
        loaded = store.load_snapshot("account-1", schema_version=2)
        assert loaded is not None
        assert (loaded.stream_id, loaded.version, loaded.schema_version) == ("account-1", 5, 2)
        assert bytes(loaded.data) == b'{"balance":7}'
        if loaded.recorded_at is not None:
            assert loaded.recorded_at.utcoffset() == dt.timedelta(0)

    def test_the_latest_snapshot_not_past_max_version_is_loaded(
        self, store_factory: StoreFactory
    ) -> None:
        """load_snapshot gives the snapshot of highest version at most max_version."""
        store = store_factory()
        for version in (10, 20, 30):
            store.save_snapshot(
                Snapshot(
                    stream_id="account-1", version=version, schema_version=1, data=b"%d" % version
                )
            )

        def version_loaded(max_version: int | None) -> int | None:
            snapshot = store.load_snapshot("account-1", schema_version=1, max_version=max_version)
            return None if snapshot is None else snapshot.version

        assert version_loaded(None) == 30
        assert version_loaded(30) == 30
        assert version_loaded(29) == 20
        assert version_loaded(20) == 20
        assert version_loaded(10) == 10
        assert version_loaded(9) is None

    def test_snapshots_of_another_schema_version_are_not_loaded(
        self, store_factory: StoreFactory
    ) -> None:
        """load_snapshot gives only snapshots of the schema version asked for."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=8, schema_version=1, data=b"1"))
        store.save_snapshot(Snapshot(stream_id="account-1", version=4, schema_version=2, data=b"2"))
        v1 = store.load_snapshot("account-1", schema_version=1)
        v2 = store.load_snapshot("account-1", schema_version=2)
        assert v1 is not None and (v1.version, bytes(v1.data)) == (8, b"1")
        assert v2 is not None and (v2.version, bytes(v2.data)) == (4, b"2")
        assert store.load_snapshot("account-1", schema_version=3) is None

    def test_a_snapshot_saved_again_replaces_the_old_one(self, store_factory: StoreFactory) -> None:
        """Saving a snapshot at the same stream, schema and version replaces it."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"1"))
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"2"))
        loaded = store.load_snapshot("account-1", schema_version=1)
        assert loaded is not None and bytes(loaded.data) == b"2"

    def test_snapshots_belong_to_their_stream(self, store_factory: StoreFactory) -> None:
        """A snapshot of one stream is never loaded for another, nor seen in the log."""
        store = store_factory()
        store.save_snapshot(Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"1"))
        assert store.load_snapshot("account-2", schema_version=1) is None
        assert settled_log(store) == []
        assert tuple(store.head()) == tuple(START)

    def test_a_snapshot_is_seen_by_a_second_handle(self, store_factory: StoreFactory) -> None:
        """A snapshot saved through one handle loads through another."""
        writer, reader = store_factory(), store_factory()
        writer.save_snapshot(
            Snapshot(stream_id="account-1", version=2, schema_version=1, data=b"x")
        )
        loaded = reader.load_snapshot("account-1", schema_version=1)
        assert loaded is not None and loaded.version == 2

    def test_snapshots_belong_to_their_name(self, store_factory: StoreFactory) -> None:
        """Snapshots of two names on one stream are kept apart, and each loads its own."""
        store = store_factory()
        store.save_snapshot(
            Snapshot(stream_id="account-1", name="bank", version=4, schema_version=1, data=b"b")
        )
        store.save_snapshot(
            Snapshot(stream_id="account-1", name="audit", version=2, schema_version=1, data=b"a")
        )
        bank = store.load_snapshot("account-1", name="bank", schema_version=1)
        audit = store.load_snapshot("account-1", name="audit", schema_version=1)
        assert bank is not None and (bank.name, bank.version, bytes(bank.data)) == ("bank", 4, b"b")
        assert audit is not None and (audit.version, bytes(audit.data)) == (2, b"a")
        assert store.load_snapshot("account-1", name="other", schema_version=1) is None
        assert store.load_snapshot("account-1", schema_version=1) is None
