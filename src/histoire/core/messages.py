"""Events and commands: typed, immutable classes declared by the user.

An event type has a stable type name (defaults to the class name) and a schema
version (defaults to 1), set as class variables::

    class Deposited(Event):
        type_name: ClassVar[str] = "bank.Deposited"
        schema_version: ClassVar[int] = 2

        amount_cents: int
        currency: str

Instances are msgspec structs: frozen, keyword-only, fast to encode and checked
strictly on decode.
"""

from __future__ import annotations

from typing import Any, ClassVar, dataclass_transform

import msgspec


class _MessageMeta(msgspec.StructMeta):
    """Makes every subclass frozen and keyword-only unless it says otherwise.

    msgspec inherits `frozen` but not `kw_only`; keyword-only fields mean that
    adding a field to an event never shifts the others.
    """

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _MessageMeta:
        kwargs.setdefault("frozen", True)
        kwargs.setdefault("kw_only", True)
        cls: _MessageMeta = super().__new__(mcls, name, bases, namespace, **kwargs)
        return cls


# The decorators tell type checkers what the metaclass does at run time.
@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(msgspec.field,))
class Event(msgspec.Struct, frozen=True, kw_only=True, metaclass=_MessageMeta):
    """Base of every domain event: an immutable fact in the past tense."""

    type_name: ClassVar[str] = "Event"
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "type_name" not in own:
            cls.type_name = cls.__name__
        if "schema_version" not in own:
            cls.schema_version = 1
        if not isinstance(cls.type_name, str) or not cls.type_name:
            raise TypeError(f"{cls.__name__}.type_name must be a non-empty str")
        version = cls.schema_version
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TypeError(f"{cls.__name__}.schema_version must be an int >= 1, not {version!r}")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(msgspec.field,))
class Command(msgspec.Struct, frozen=True, kw_only=True, metaclass=_MessageMeta):
    """Base of commands: a request to change the system, which may be refused."""
