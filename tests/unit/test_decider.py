"""Deciders and their snapshot policy, with no database at all."""

from __future__ import annotations

from typing import Any

import pytest

from histoire import Decider, SnapshotPolicy
from histoire.examples.bank import (
    Account,
    AccountOpened,
    Deposited,
    WithdrawalRefused,
    Withdrawn,
    decide,
    evolve,
    initial_state,
    make_decider,
)

bank = make_decider()
HISTORY = [
    AccountOpened(owner="ada", currency="EUR"),
    Deposited(amount_cents=1000, currency="EUR"),
    Withdrawn(amount_cents=300),
    WithdrawalRefused(amount_cents=5000, balance_cents=700, reason="insufficient funds"),
]


def test_a_policy_without_every_is_never_due() -> None:
    """With every=None no version ever calls for a snapshot."""
    policy = SnapshotPolicy()
    assert not any(policy.due(v, v + n) for v in range(0, 50) for n in range(1, 5))


@pytest.mark.parametrize(
    ("previous", "new", "due"),
    [
        (0, 1, False),
        (0, 2, False),
        (0, 3, True),
        (2, 3, True),
        (3, 4, False),
        (3, 5, False),
        (5, 6, True),
        (5, 7, True),
        (0, 7, True),
        (6, 6, False),
        (4, 5, False),
    ],
)
def test_a_snapshot_is_due_when_a_multiple_of_every_is_crossed(
    previous: int, new: int, due: bool
) -> None:
    """every=3: due when an append goes past 3, 6, 9... even by several events at once."""
    assert SnapshotPolicy(every=3).due(previous, new) is due


@pytest.mark.parametrize("every", [0, -1, "3", 2.5])
def test_an_invalid_snapshot_frequency_is_refused(every: Any) -> None:
    """every must be None or an int >= 1."""
    with pytest.raises(ValueError, match="every"):
        SnapshotPolicy(every=every)


def test_an_invalid_state_schema_version_is_refused() -> None:
    """state_schema_version must be >= 1."""
    with pytest.raises(ValueError, match="state_schema_version"):
        SnapshotPolicy(every=3, state_schema_version=0)


def test_snapshots_need_a_state_type() -> None:
    """A decider that snapshots must say how to decode its state."""
    with pytest.raises(ValueError, match="state_type"):
        Decider(
            name="bank",
            initial_state=initial_state,
            decide=decide,
            evolve=evolve,
            snapshots=SnapshotPolicy(every=10),
        )


def test_fold_starts_from_the_initial_state() -> None:
    """fold over a history gives the state those events lead to from the initial state."""
    assert bank.fold(HISTORY) == Account(
        opened=True, owner="ada", currency="EUR", balance_cents=700
    )


def test_fold_of_nothing_is_the_initial_state() -> None:
    """fold over no events gives the initial state."""
    assert bank.fold([]) == initial_state()


def test_fold_continues_from_a_given_state() -> None:
    """Folding the tail onto the state of the head equals folding the whole history."""
    for cut in range(len(HISTORY) + 1):
        assert bank.fold(HISTORY[cut:], bank.fold(HISTORY[:cut])) == bank.fold(HISTORY)


def test_fold_accepts_any_iterable() -> None:
    """fold takes a generator as well as a list."""
    assert bank.fold(e for e in HISTORY) == bank.fold(HISTORY)
