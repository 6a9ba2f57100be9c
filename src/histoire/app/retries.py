"""The retry policy of the command handler: exponential backoff with full jitter.

When a command meets a concurrent writer (ConcurrencyError: another command
appended to the stream between the load and the append), the handler sleeps,
reloads and decides again. Sleeping a random time, growing with each conflict,
spreads the writers of a busy stream apart: without it, the same writers meet
again at once and a few of them lose every round.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from histoire.core.errors import InvalidInputError


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How many times, and how long apart, a conflicting command is tried again.

    After the n-th conflicting attempt (n = 1, 2, ...) the handler sleeps a
    random time between 0 and min(`max_delay`, `base_delay` * 2 ** (n - 1))
    seconds ("full jitter"), then reloads and decides again. It gives up with
    RetriesExhaustedError after `max_attempts` attempts (None: no limit), or
    when the next sleep would end more than `deadline` seconds after the first
    attempt (None: no deadline). At least one of the two must be set.

    `sleep`, `clock` and `random` are the functions used to wait, to read a
    monotonic time and to draw a number in [0, 1): pass others to test a
    policy without waiting.
    """

    max_attempts: int | None = 100
    base_delay: float = 0.002
    max_delay: float = 0.25
    deadline: float | None = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.max_attempts is not None and (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or self.max_attempts < 1
        ):
            raise InvalidInputError(
                f"RetryPolicy.max_attempts must be None or an int >= 1, not {self.max_attempts!r}"
            )
        for name in ("base_delay", "max_delay"):
            _check_seconds(name, getattr(self, name))
        if self.max_delay < self.base_delay:
            raise InvalidInputError(
                f"RetryPolicy.max_delay ({self.max_delay}) must be >= base_delay "
                f"({self.base_delay})"
            )
        if self.deadline is not None:
            _check_seconds("deadline", self.deadline)
        if self.max_attempts is None and self.deadline is None:
            raise InvalidInputError(
                "RetryPolicy needs max_attempts or a deadline: without either a command "
                "could retry forever"
            )

    @classmethod
    def no_retry(cls) -> RetryPolicy:
        """A policy that reports the first conflict (RetriesExhaustedError after one attempt)."""
        return cls(max_attempts=1, deadline=None)

    def delay(self, attempts: int, started: float) -> float | None:
        """Seconds to sleep after `attempts` conflicting attempts begun at `started`, or None
        to give up."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempts - 1, 64))
        delay = ceiling * self.random()
        if self.deadline is not None and self.clock() + delay - started > self.deadline:
            return None
        return delay


def _check_seconds(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 <= value < float("inf")
    ):
        raise InvalidInputError(f"RetryPolicy.{name} must be a finite number >= 0, not {value!r}")
