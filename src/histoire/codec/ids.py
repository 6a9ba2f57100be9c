"""Event and command ids: UUID version 7, ordered by time.

Time-ordered ids keep the store's unique index on event ids append-mostly:
new ids land at the right edge of the B-tree instead of at random pages,
which roughly doubles bulk appends on SQLite. (Python 3.14 ships uuid.uuid7;
this is the same layout, RFC 9562 section 5.7.)

The random bits come from a generator of this module seeded from
`os.urandom`, not from `os.urandom` itself: that call releases the GIL, and
with many threads each release hands the GIL over (a context switch, or a
wait of up to the switch interval to get it back). A command made two such
calls; at 16 threads they cost more CPU than the rest of the id. The
generator is private (a user's `random.seed()` does not make ids repeat) and
is dropped in a forked child (`os.register_at_fork`, as the `random` module
does for its own), which would otherwise draw its parent's numbers: asking
the process id at every draw cost a system call per id.
"""

from __future__ import annotations

import os
import random
import time
import uuid

_RAND_B = (1 << 62) - 1


class _Bits:
    """Random bits, from a generator seeded from os.urandom once per process."""

    def __init__(self) -> None:
        self._random: random.Random | None = None
        self._hooked = False

    def draw(self, bits: int) -> int:
        generator = self._random
        if generator is None:
            generator = self._seed()
        return generator.getrandbits(bits)

    def _seed(self) -> random.Random:
        if not self._hooked and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)
            self._hooked = True
        generator = self._random = random.Random(os.urandom(32))
        return generator

    def _forget(self) -> None:
        self._random = None


_bits = _Bits()
_new_object = object.__new__
_set_field = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(value: int) -> uuid.UUID:
    """`uuid.UUID(int=value)` for a value known to fit, without the constructor's checks.

    The constructor's argument handling costs twice the rest of an id; this is
    what it does for `int=` once the checks pass (and what Python 3.14's
    `uuid7()` does).
    """
    made: uuid.UUID = _new_object(uuid.UUID)
    _set_field(made, "int", value)
    _set_field(made, "is_safe", _UNKNOWN)
    return made


def new_event_id() -> uuid.UUID:
    """A new random UUIDv7: 48 bits of Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = _bits.draw(74)
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((rand >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (rand & _RAND_B)
    )
    return _uuid(value)


def new_command_id() -> uuid.UUID:
    """A new command id (a UUIDv7, like event ids)."""
    return new_event_id()
