"""Given/when/then specifications of deciders, with no database at all.

::

    given(bank, [AccountOpened(owner="ada")]).when(Deposit(amount_cents=500)).then(
        [Deposited(amount_cents=500, currency="EUR")]
    )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

from histoire.codec.checks import check_command
from histoire.codec.codec import Codec
from histoire.core.decider import Decider
from histoire.core.messages import Event

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=Event)


class DeciderSpec(Generic[C, S, E]):
    """A decider with a past (`given`), about to receive a command (`when`)."""

    def __init__(self, decider: Decider[C, S, E], history: Sequence[E]) -> None:
        self.decider = decider
        self.history = list(history)
        self.state = decider.fold(self.history)
        self._command: C | None = None
        self._outcome: list[E] | None = None
        self._error: Exception | None = None

    def when(self, command: C) -> DeciderSpec[C, S, E]:
        """Decide on `command` against the state folded from the history.

        As a CommandHandler would: a Command is checked against its class, and
        each decided event must read back equal from its JSON (when the decider
        lists its `events`), so that a spec cannot pass with what would be refused.
        """
        self._command = command
        try:
            outcome = list(self.decider.decide_events(check_command(command), self.state))
            if self.decider.events:
                codec = Codec(self.decider.events)
                outcome = [cast("E", codec.encode_and_read_back(e)[1]) for e in outcome]
            self._outcome = outcome
        except Exception as exc:
            self._error = exc
        return self

    def then(self, expected: Sequence[E]) -> S:
        """Assert the decision was exactly `expected`; return the state after it."""
        if self._error is not None:
            raise AssertionError(
                f"expected events {list(expected)!r}, but {self._command!r} raised {self._error!r}"
            ) from self._error
        if self._outcome != list(expected):
            raise AssertionError(
                f"when {self._command!r}:\n"
                f"  expected {list(expected)!r}\n"
                f"  got      {self._outcome!r}"
            )
        return self.decider.fold(self._outcome, self.state)

    def then_raises(
        self, error: type[Exception], match: str | Callable[[Exception], bool] | None = None
    ) -> Exception:
        """Assert the command raised `error` (and decided nothing); return the exception."""
        if self._error is None:
            raise AssertionError(
                f"expected {error.__name__}, but {self._command!r} decided {self._outcome!r}"
            )
        if not isinstance(self._error, error):
            raise AssertionError(f"expected {error.__name__}, got {self._error!r}") from self._error
        if isinstance(match, str) and match not in str(self._error):
            raise AssertionError(f"{self._error!r} does not mention {match!r}")
        if callable(match) and not match(self._error):
            raise AssertionError(f"{self._error!r} does not satisfy the check")
        return self._error


def given(decider: Decider[C, S, E], history: Sequence[E] = ()) -> DeciderSpec[C, S, E]:
    """Start a specification: `decider` has already seen `history`."""
    return DeciderSpec(decider, history)
