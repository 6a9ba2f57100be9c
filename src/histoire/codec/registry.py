"""The event type registry: an object you create and pass, never a global."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from histoire.core.errors import UnknownEventTypeError
from histoire.core.messages import Event

E = TypeVar("E", bound=type[Event])


class EventRegistry:
    """Maps stable type names to event classes."""

    def __init__(self, event_types: Iterable[type[Event]] = ()) -> None:
        self._by_name: dict[str, type[Event]] = {}
        for event_type in event_types:
            self.register(event_type)

    def register(self, event_type: E) -> E:
        """Register `event_type` under its `type_name` (usable as a class decorator)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"{event_type!r} is not a subclass of histoire.Event")
        name = event_type.type_name
        known = self._by_name.get(name)
        if known is not None and known is not event_type:
            raise ValueError(f"type name {name!r} is already registered for {known.__qualname__}")
        self._by_name[name] = event_type
        return event_type

    def get(self, type_name: str) -> type[Event]:
        """The class registered under `type_name`, or UnknownEventTypeError."""
        try:
            return self._by_name[type_name]
        except KeyError:
            raise UnknownEventTypeError(type_name, list(self._by_name)) from None

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._by_name

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
