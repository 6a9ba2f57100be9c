"""Upcasters: read-time functions that bring an old event payload to the next version.

Each is registered explicitly by (event type name, from version) and turns a
payload dict of version k into one of version k + 1; the chain runs up to the
event class's current `schema_version`. Stored bytes never change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from histoire.core.errors import UpcastError

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Upcasters:
    """A set of upcasters, keyed by (event type name, from version)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], Upcaster] = {}

    def register(self, type_name: str, from_version: int, upcaster: Upcaster | None = None) -> Any:
        """Register `upcaster` for `type_name` at `from_version` (also usable as a decorator)."""
        if not isinstance(from_version, int) or isinstance(from_version, bool) or from_version < 1:
            raise ValueError(f"from_version must be an int >= 1, not {from_version!r}")

        def add(fn: Upcaster) -> Upcaster:
            key = (type_name, from_version)
            if key in self._by_key:
                raise ValueError(
                    f"an upcaster for {type_name} v{from_version} is already registered"
                )
            self._by_key[key] = fn
            return fn

        if upcaster is None:
            return add
        return add(upcaster)

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._by_key

    def upcast(
        self, type_name: str, payload: Payload, from_version: int, to_version: int
    ) -> Payload:
        """Run the chain from `from_version` to `to_version` over `payload`."""
        if from_version > to_version:
            raise UpcastError(
                type_name,
                from_version,
                to_version,
                "stored by a newer schema than this code knows; upgrade the code",
            )
        for version in range(from_version, to_version):
            step = self._by_key.get((type_name, version))
            if step is None:
                raise UpcastError(
                    type_name, from_version, to_version, f"no upcaster registered from v{version}"
                )
            try:
                payload = step(payload)
            except Exception as exc:
                raise UpcastError(
                    type_name, from_version, to_version, f"upcaster from v{version} failed: {exc!r}"
                ) from exc
            if not isinstance(payload, dict):
                raise UpcastError(
                    type_name,
                    from_version,
                    to_version,
                    f"upcaster from v{version} returned {type(payload).__name__}, not dict",
                )
        return payload
