"""The checks a database-backed store runs on itself, for `verify`.

The SQLite and PostgreSQL stores implement them; the memory store has no
database to check. `histoire.verify` runs whichever a store has.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from histoire.core.errors import CorruptEventError
from histoire.core.stored_fields import shown


class StorageCheck(NamedTuple):
    """What the database's own integrity check said."""

    name: str
    """The check that ran: `PRAGMA quick_check`, `amcheck bt_index_check`..."""
    problems: list[str]
    """What it found wrong; empty when the database is sound."""
    skipped: str | None = None
    """Why the check could not run, when it could not (then `problems` is empty)."""


@runtime_checkable
class SelfChecking(Protocol):
    """A store that can check its database: its pages, its defences, its rows."""

    def storage_check(self, *, full: bool = False) -> StorageCheck:
        """Run the database's own integrity check (a quick one, or the full one)."""
        ...

    def integrity_problems(self) -> list[str]:
        """Histoire's defences: immutability triggers present, versions without holes."""
        ...

    def category_mismatches(self) -> list[CorruptEventError]:
        """Events whose category column is not the category of their stream id."""
        ...


def misfiled(
    position: int, stream_id: str, version: object, category: object, expected: str
) -> CorruptEventError:
    """The error for an event filed under `category` instead of its stream's `expected` one."""
    return CorruptEventError(
        position=position,
        stream_id=stream_id,
        version=version,
        field="category",
        value=category,
        reason=f"category is {shown(category)}, not {expected!r}, the stream id's category",
    )
