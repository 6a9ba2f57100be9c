"""Registering the handlers of a follower (projection, reaction) by the event types they take."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from histoire.core.errors import InvalidInputError
from histoire.core.messages import Event

F = TypeVar("F", bound=Callable[..., Any])


def registrar(
    owner: str,
    method: str,
    event_types: tuple[type[Event], ...],
    into: dict[type[Event], F],
    taken: Collection[type[Event]],
) -> Callable[[F], F]:
    """A decorator that registers a handler of `event_types` into `into`.

    `owner` names the follower in errors (`projection 'balances'`); an event
    type already in `taken` (handled by another of its handlers) is refused.
    """
    if not event_types:
        raise InvalidInputError(f"{owner}: {method}() needs an event type")
    for event_type in event_types:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise InvalidInputError(f"{owner}: {event_type!r} is not an Event subclass")
        if event_type in taken:
            raise InvalidInputError(f"{owner} already handles {event_type.type_name}")

    def register(handler: F) -> F:
        for event_type in event_types:
            into[event_type] = handler
        return handler

    return register
