"""What an append gives back: the stream's new version, the events' places, the events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from histoire.core.recorded import RecordedEvent

_FIELDS = (
    "stream_id",
    "first_version",
    "last_version",
    "first_position",
    "last_position",
    "events",
)


class Unbuilt:
    """The events of an AppendResult still to build: `build(*args)` gives them, once.

    A bulk import appends many events and seldom looks at the records back (a
    hundred of them cost a store about 2,600 instructions each): a store that
    has what the records hold (the events as given, their versions, positions
    and time) hands it over instead, and the first read of `events` builds
    them. `args` must not change meanwhile: a store passes values it alone
    holds (a copy of the events list, encoded metadata, bytes). Two threads
    reading `events` at once may both build it: the values are equal.
    """

    __slots__ = ("_args", "_build", "_events")

    def __init__(self, build: Callable[..., tuple[RecordedEvent, ...]], *args: Any) -> None:
        self._build: Callable[..., tuple[RecordedEvent, ...]] | None = build
        self._args = args
        self._events: tuple[RecordedEvent, ...] = ()

    def built(self) -> tuple[RecordedEvent, ...]:
        build = self._build
        if build is None:
            return self._events
        events = self._events = build(*self._args)
        # After `_events`: a thread that finds `_build` cleared finds the events set.
        self._build = None
        self._args = ()
        return events


class _AppendResultType(msgspec.StructMeta):
    """AppendResult's type: takes `events` as a keyword too (the field is `_events`)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if "events" in kwargs:
            kwargs["_events"] = kwargs.pop("events")
        return super().__call__(*args, **kwargs)

    @property  # over StructMeta's own, which would name `_events` (matched by position)
    def __match_args__(cls) -> tuple[str, ...]:  # type: ignore[override]
        return _FIELDS


class AppendResult(
    msgspec.Struct, metaclass=_AppendResultType, frozen=True, eq=False, weakref=False
):
    """What an append wrote: the stream's new version and the events' positions.

    Immutable, compared, hashed, unpacked and indexed like the named tuple of
    its six fields it was (`stream_id, first_version, last_version,
    first_position, last_position, events`), with `_replace` and `_asdict`;
    it is not a `tuple` any more: a store may build `events` on first access
    (see `Unbuilt`), which a tuple's items cannot wait for.
    """

    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    _events: tuple[RecordedEvent, ...] | Unbuilt

    if TYPE_CHECKING:

        def __init__(
            self,
            stream_id: str,
            first_version: int,
            last_version: int,
            first_position: int,
            last_position: int,
            events: tuple[RecordedEvent, ...] | Unbuilt,
        ) -> None: ...

    _fields = _FIELDS

    @property
    def events(self) -> tuple[RecordedEvent, ...]:
        """The recorded events, in version order."""
        events = self._events
        if type(events) is tuple:
            return events
        assert isinstance(events, Unbuilt)
        return events.built()

    @property
    def version(self) -> int:
        """The stream's version after the append."""
        return self.last_version

    def _astuple(self) -> tuple[Any, ...]:
        return (
            self.stream_id,
            self.first_version,
            self.last_version,
            self.first_position,
            self.last_position,
            self.events,
        )

    def __iter__(self) -> Iterator[Any]:
        return iter(self._astuple())

    def __len__(self) -> int:
        return len(_FIELDS)

    def __getitem__(self, index: Any) -> Any:
        return self._astuple()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AppendResult):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(_FIELDS, self._astuple(), strict=True))
        return f"AppendResult({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (AppendResult, self._astuple())

    def _replace(self, **changes: Any) -> AppendResult:
        """A copy with some fields changed (as a named tuple's `_replace`)."""
        unknown = changes.keys() - set(_FIELDS)
        if unknown:
            raise ValueError(f"Got unexpected field names: {sorted(unknown)!r}")
        return AppendResult(**{**self._asdict(), **changes})

    def _asdict(self) -> dict[str, Any]:
        """The fields by name (as a named tuple's `_asdict`)."""
        return dict(zip(_FIELDS, self._astuple(), strict=True))


build_append_result: Callable[..., AppendResult] = msgspec.StructMeta.__call__.__get__(AppendResult)
"""`AppendResult(*fields)` without the keyword's mapping (the stores' hot path); the
last field may be an `Unbuilt`."""
