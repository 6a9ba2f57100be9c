"""A projection: a named view built from events, and the handlers that build it.

::

    balances = Projection("balances", version=1)

    @balances.setup
    def create_tables(ctx: ProjectionContext) -> None:
        ctx.execute(f"CREATE TABLE {ctx.table('accounts')} (id TEXT PRIMARY KEY, cents INTEGER)")

    @balances.on(Deposited)
    def deposited(event: Deposited, ctx: ProjectionContext) -> None:
        ...

A handler registered with `on_batch` instead gets the events it handles a run
at a time (consecutive events of one batch, in log order, as (event, record)
pairs), so that it can write them with one `ctx.executemany`: the fastest way
to catch up a long log, on PostgreSQL above all (one round trip per batch
instead of one per event).

Bump `version` when the handlers change what they write: the next run builds
a new generation of the read model from the start of the log, beside the old
one, which serves reads until the new one has caught up.

A projection is `transactional` (the default) when its read model lives in
the event store's database: each batch's rows and the checkpoint commit in
one transaction, exactly once. Otherwise (a search index, another service)
handlers run first and the checkpoint is recorded after they succeeded: at
least once, so handlers must be idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from histoire.app.registration import registrar
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.codec.upcasting import Upcasters
from histoire.core.errors import InvalidInputError
from histoire.core.messages import Event
from histoire.core.recorded import RecordedEvent

if TYPE_CHECKING:
    from histoire.app.projections.context import ProjectionContext

E = TypeVar("E", bound=Event)
Handler = Callable[[Any, "ProjectionContext"], None]
BatchHandler = Callable[[list[tuple[Any, RecordedEvent]], "ProjectionContext"], None]
Setup = Callable[["ProjectionContext"], None]
F = TypeVar("F", Handler, BatchHandler)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def validate_name(kind: str, name: object) -> str:
    """`name` if it suits a projection or table name (it becomes part of SQL identifiers)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "__" in name:
        raise InvalidInputError(
            f"invalid {kind} name {name!r}: use 1 to 40 lowercase letters, digits and "
            "single underscores, starting with a letter"
        )
    return name


class Projection:
    """A named read model and the event handlers that build it."""

    def __init__(
        self,
        name: str,
        *,
        version: int = 1,
        transactional: bool = True,
        categories: Iterable[str] | None = None,
        upcasters: Upcasters | None = None,
    ) -> None:
        self.name = validate_name("projection", name)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInputError(f"projection {name!r}: version must be an int >= 1")
        if isinstance(categories, str):
            raise InvalidInputError(
                f"projection {name!r}: categories must be a collection of str, not a str"
            )
        self.version = version
        self.transactional = transactional
        self.categories = None if categories is None else tuple(sorted(set(categories)))
        self.upcasters = upcasters
        self._handlers: dict[type[Event], Handler] = {}
        self._batch_handlers: dict[type[Event], BatchHandler] = {}
        self._setups: list[Setup] = []

    def on(self, *event_types: type[E]) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of `event_types`."""
        return self._registrar(event_types, "on", self._handlers)

    def on_batch(self, *event_types: type[E]) -> Callable[[BatchHandler], BatchHandler]:
        """Register the decorated function as the handler of `event_types`, a run at a time.

        It is called with the consecutive events of a batch that it handles, in
        log order, as a list of (event, record) pairs. If it raises, none of
        them is applied, and the failure is recorded at the first of them.
        """
        return self._registrar(event_types, "on_batch", self._batch_handlers)

    def _registrar(
        self, event_types: tuple[type[E], ...], method: str, into: dict[type[Event], F]
    ) -> Callable[[F], F]:
        taken = {*self._handlers, *self._batch_handlers}
        return registrar(f"projection {self.name!r}", method, event_types, into, taken)

    def setup(self, function: Setup) -> Setup:
        """Register `function` to create the read model's tables of a new generation."""
        self._setups.append(function)
        return function

    @property
    def handlers(self) -> Mapping[str, Handler]:
        """The handlers of one event at a time, by event type name."""
        return {t.type_name: h for t, h in self._handlers.items()}

    @property
    def batch_handlers(self) -> Mapping[str, BatchHandler]:
        """The handlers of runs of events (`on_batch`), by event type name."""
        return {t.type_name: h for t, h in self._batch_handlers.items()}

    @property
    def setups(self) -> tuple[Setup, ...]:
        """The functions that create a new generation's tables, in order."""
        return tuple(self._setups)

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        """The event classes the projection handles."""
        return (*self._handlers, *self._batch_handlers)

    def codec(self, registry: EventRegistry | None = None) -> Codec:
        """A codec for the handled events (from `registry` if given), with the upcasters."""
        types = EventRegistry(self.event_types) if registry is None else registry
        return Codec(types, self.upcasters)

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, version={self.version})"
