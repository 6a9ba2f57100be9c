"""The application definition: one object holding everything a user's app is made of.

The command line and the worker processes load it with `--app module:attribute`
(the convention of uvicorn and celery); `verify` decodes events with its types
and upcasters, and the read side (projections, reactions, the relay) finds its
definitions in it. Nothing is discovered by scanning modules::

    app = Application(
        name="bank",
        deciders=[accounts],
        upcasters=upcasters,
        store_url="sqlite:///bank.db",
    )
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from histoire.app.handler import CommandHandler
from histoire.app.projections.definition import Projection
from histoire.app.reactions.definition import Reaction
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.codec.upcasting import Upcasters
from histoire.core.decider import Decider
from histoire.core.errors import InvalidInputError
from histoire.core.messages import Event
from histoire.store.protocol import EventStore
from histoire.store.urls import open_store


@dataclass(frozen=True, kw_only=True)
class Application:
    """A user's application: its deciders, event types, upcasters and store URL.

    `events` lists event types that no decider lists (events appended by hand,
    or kept for history after a decider stopped emitting them). `projections`
    are the views `histoire projections run` keeps up to date. `store_url` is
    the default store; the command line's `--store` and HISTOIRE_STORE win
    over it.
    """

    name: str
    deciders: Sequence[Decider[Any, Any, Any]] = ()
    events: Sequence[type[Event]] = ()
    upcasters: Upcasters = field(default_factory=Upcasters)
    store_url: str | None = None
    projections: Sequence[Projection] = ()
    reactions: Sequence[Reaction] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"Application.name must be a non-empty str, not {self.name!r}")
        for decider in self.deciders:
            if not isinstance(decider, Decider):
                raise InvalidInputError(
                    f"application {self.name!r}: deciders must be Decider objects, "
                    f"not {type(decider).__qualname__}"
                )
        for projection in self.projections:
            if not isinstance(projection, Projection):
                raise InvalidInputError(
                    f"application {self.name!r}: projections must be Projection objects, "
                    f"not {type(projection).__qualname__}"
                )
        for reaction in self.reactions:
            if not isinstance(reaction, Reaction):
                raise InvalidInputError(
                    f"application {self.name!r}: reactions must be Reaction objects, "
                    f"not {type(reaction).__qualname__}"
                )
        reacting = [r.name for r in self.reactions]
        if len(set(reacting)) != len(reacting):
            twice = sorted({r for r in reacting if reacting.count(r) > 1})
            raise InvalidInputError(
                f"application {self.name!r}: two reactions are named {twice[0]!r}"
            )
        views = [p.name for p in self.projections]
        if len(set(views)) != len(views):
            twice = sorted({v for v in views if views.count(v) > 1})
            raise InvalidInputError(
                f"application {self.name!r}: two projections are named {twice[0]!r}"
            )
        names = [d.name for d in self.deciders]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise InvalidInputError(
                f"application {self.name!r}: two deciders are named {doubled[0]!r}; "
                "a decider's name keys its snapshots, so names must differ"
            )
        # Building the registry now reports two classes under one type name at
        # definition time, not at the first decode.
        object.__setattr__(self, "_registry", self._build_registry())

    def _build_registry(self) -> EventRegistry:
        registry = EventRegistry()
        handled = (
            *(t for p in self.projections for t in p.event_types),
            *(t for r in self.reactions for t in r.event_types),
        )
        listed = (e for d in self.deciders for e in d.events)
        for event_type in (*listed, *self.events, *handled):
            try:
                registry.register(event_type)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"application {self.name!r}: {exc}") from exc
        return registry

    @property
    def registry(self) -> EventRegistry:
        """Every event type of the application, by type name."""
        registry: EventRegistry = self.__dict__["_registry"]
        return registry

    def codec(self) -> Codec:
        """A codec for every event type of the application, with its upcasters."""
        return Codec(self.registry, self.upcasters)

    def decider(self, name: str) -> Decider[Any, Any, Any]:
        """The decider named `name`."""
        for decider in self.deciders:
            if decider.name == name:
                return decider
        known = ", ".join(sorted(d.name for d in self.deciders)) or "none"
        raise InvalidInputError(f"application {self.name!r} has no decider {name!r} ({known})")

    def projection(self, name: str) -> Projection:
        """The projection named `name`."""
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(sorted(p.name for p in self.projections)) or "none"
        raise InvalidInputError(f"application {self.name!r} has no projection {name!r} ({known})")

    def reaction(self, name: str) -> Reaction:
        """The reaction named `name`."""
        for reaction in self.reactions:
            if reaction.name == name:
                return reaction
        known = ", ".join(sorted(r.name for r in self.reactions)) or "none"
        raise InvalidInputError(f"application {self.name!r} has no reaction {name!r} ({known})")

    def handler(
        self, decider: Decider[Any, Any, Any] | str, store: EventStore
    ) -> CommandHandler[Any, Any, Any]:
        """A command handler for `decider` (or its name) on `store`, with the app's upcasters."""
        chosen = self.decider(decider) if isinstance(decider, str) else decider
        return CommandHandler(store, chosen, upcasters=self.upcasters)

    def open_store(self, url: str | None = None, **options: Any) -> EventStore:
        """Open `url`, or the application's own store URL when none is given."""
        target = url or self.store_url
        if target is None:
            raise InvalidInputError(
                f"application {self.name!r} has no store_url; pass a URL to open_store"
            )
        return open_store(target, **options)
