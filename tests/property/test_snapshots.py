"""Property: state from a snapshot plus the tail equals state from a full replay, always."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from histoire import Codec, CommandHandler, InvalidCommandError, MemoryEventStore
from histoire.examples.bank import (
    EVENTS,
    BankCommand,
    CloseAccount,
    Deposit,
    OpenAccount,
    Withdraw,
    make_decider,
    make_upcasters,
)

amounts = st.integers(min_value=-20, max_value=3000)
bank_commands = st.one_of(
    st.builds(Deposit, amount_cents=amounts),
    st.builds(Deposit, amount_cents=amounts),
    st.builds(Withdraw, amount_cents=amounts),
    st.just(CloseAccount()),
    st.builds(
        OpenAccount,
        owner=st.sampled_from(["ada", "bob", "", " "]),
        currency=st.sampled_from(["EUR", "USD"]),
    ),
)
histories = st.tuples(st.booleans(), st.lists(bank_commands, max_size=40)).map(
    lambda t: ([OpenAccount(owner="ada")] if t[0] else []) + t[1]
)

codec = Codec(EVENTS, make_upcasters())


def run(commands: list[BankCommand], snapshot_every: int | None, store: MemoryEventStore) -> None:
    handler = CommandHandler(store, make_decider(snapshot_every), upcasters=make_upcasters())
    for command in commands:
        with contextlib.suppress(InvalidCommandError):
            handler.handle("account-1", command)


@settings(max_examples=150, deadline=None)
@given(commands=histories, every=st.integers(min_value=1, max_value=7), data=st.data())
def test_snapshot_and_tail_equal_a_full_replay(
    commands: list[BankCommand], every: int, data: st.DataObject
) -> None:
    """For any history of bank commands and any snapshot frequency, loading equals replaying."""
    store = MemoryEventStore()
    run(commands, every, store)
    decider = make_decider(every)
    handler = CommandHandler(store, decider, upcasters=make_upcasters())
    stored = [codec.decode(e) for e in store.read_stream("account-1")]
    version = len(stored)

    loaded = handler.load("account-1")
    assert loaded.state == decider.fold(stored)
    assert loaded.version == version
    assert loaded.snapshot_version == version // every * every, "snapshots were not used"

    at = data.draw(st.integers(min_value=0, max_value=version + 2), label="at_version")
    past = handler.load("account-1", at_version=at)
    assert past.state == decider.fold(stored[:at])
    assert past.version == min(at, version)
    assert past.snapshot_version <= past.version


@settings(max_examples=60, deadline=None)
@given(commands=histories, every=st.integers(min_value=1, max_value=5))
def test_snapshots_do_not_change_decisions(commands: list[BankCommand], every: int) -> None:
    """The same commands decide the same events whether snapshots are taken or not."""
    with_snapshots, without = MemoryEventStore(), MemoryEventStore()
    run(commands, every, with_snapshots)
    run(commands, None, without)
    assert [codec.decode(e) for e in with_snapshots.read_stream("account-1")] == [
        codec.decode(e) for e in without.read_stream("account-1")
    ]
