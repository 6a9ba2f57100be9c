"""A reaction: handlers of events that issue commands or cause side effects.

::

    support = Reaction("support_mail", max_attempts=5)

    @support.on(AccountDeletionRefused)
    def mail_support(event: AccountDeletionRefused, ctx: ReactionContext) -> None:
        send_mail(...)                                       # a side effect
        ctx.issue("alerts", "alert-support", RaiseAlert(...))  # a command: more events

Delivery is at least once; commands issued through `ctx.issue` are stored
exactly once in effect, because their command id is derived from the
triggering event. A handler that raises is tried again later with exponential
backoff and jitter (other streams go on; later events of the same stream wait
behind it), and after `max_attempts` attempts the event is parked until
`histoire reactions retry` or `skip`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from histoire.app.projections.definition import validate_name
from histoire.app.registration import registrar
from histoire.core.errors import InvalidInputError
from histoire.core.messages import Event

if TYPE_CHECKING:
    from histoire.app.reactions.context import ReactionContext

E = TypeVar("E", bound=Event)
Handler = Callable[[Any, "ReactionContext"], None]


class Reaction:
    """A named set of event handlers with a retry and parking policy."""

    def __init__(
        self,
        name: str,
        *,
        categories: Iterable[str] | None = None,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        self.name = validate_name("reaction", name)
        if isinstance(categories, str):
            raise InvalidInputError(f"reaction {name!r}: categories must be a collection of str")
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise InvalidInputError(f"reaction {name!r}: max_attempts must be an int >= 1")
        for label, value in (("base_delay", base_delay), ("max_delay", max_delay)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
                raise InvalidInputError(f"reaction {name!r}: {label} must be a number >= 0")
        self.categories = None if categories is None else tuple(sorted(set(categories)))
        self.max_attempts = max_attempts
        self.base_delay = float(base_delay)
        self.max_delay = max(float(max_delay), self.base_delay)
        self._handlers: dict[type[Event], Handler] = {}

    def on(self, *event_types: type[E]) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of `event_types`."""
        owner = f"reaction {self.name!r}"
        return registrar(owner, "on", event_types, self._handlers, self._handlers)

    @property
    def handlers(self) -> Mapping[str, Handler]:
        """The handlers, by event type name."""
        return {t.type_name: h for t, h in self._handlers.items()}

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        """The event classes the reaction handles."""
        return tuple(self._handlers)

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds before the next attempt after `attempts` failed ones (full jitter)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempts - 1, 64))
        return ceiling * draw()

    def __repr__(self) -> str:
        return f"Reaction({self.name!r})"
