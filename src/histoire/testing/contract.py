"""The contract every EventStore backend passes: one suite, shipped with the package.

A backend, ours or a third party's, subclasses `EventStoreContract` in its own
tests and provides a `store_factory` fixture: a callable that returns an open
EventStore on a fresh, empty database, and, called again within the same test,
another handle on that SAME database. Keyword options given to it go to the
store (the suite passes `read_only=True` and `max_event_size=N`). The fixture
closes what it opened::

    import pytest
    from histoire.testing.contract import EventStoreContract

    @pytest.fixture
    def store_factory(tmp_path):
        opened = []

        def make(**options):
            store = MyEventStore(tmp_path / "events", **options)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

    class TestMyEventStore(EventStoreContract):
        pass

An AsyncEventStore runs the same suite: its `store_factory` returns
`histoire.testing.blocking_facade.BlockingFacade(lambda: open_my_async_store(...))`,
which drives the async store on a private event loop (one suite, two edges).

The suite asks only what DESIGN.md promises of every backend. It never assumes
that positions are contiguous or that `Checkpoint.commit` is 0: checkpoints are
compared as tuples, and the log is read in the order the store gives it.
Immutability enforced by the database itself is tested per backend, with that
backend's own driver.
"""

from __future__ import annotations

from histoire.testing._contract.appends import AppendContract
from histoire.testing._contract.following import FollowContract
from histoire.testing._contract.hostile_input import HostileInputContract
from histoire.testing._contract.idempotency import IdempotencyContract
from histoire.testing._contract.log_order import LogOrderContract
from histoire.testing._contract.read_only import ReadOnlyContract
from histoire.testing._contract.reads import ReadContract
from histoire.testing._contract.records import RecordContract
from histoire.testing._contract.snapshots import SnapshotContract
from histoire.testing._contract.support import StoreFactory, new_event, new_events

__all__ = ["EventStoreContract", "StoreFactory", "new_event", "new_events"]


class EventStoreContract(
    AppendContract,
    IdempotencyContract,
    ReadContract,
    RecordContract,
    SnapshotContract,
    FollowContract,
    LogOrderContract,
    HostileInputContract,
    ReadOnlyContract,
):
    """What every EventStore must do; subclass it and provide a `store_factory` fixture."""
