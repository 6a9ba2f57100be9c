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


class _Bits:
    """Random bits, from a generator seeded from os.urandom once per process."""

    def __init__(self) -> None:
        self.generator: random.Random | None = None  # None: seed one first
        self._hooked = False

    def seed(self) -> random.Random:
        if not self._hooked and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)
            self._hooked = True
        generator = self.generator = random.Random(os.urandom(32))
        return generator

    def _forget(self) -> None:
        self.generator = None


_bits = _Bits()
_new_object = object.__new__
# The slots' own setters: cheaper than object.__setattr__, which finds them by name.
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN = uuid.SafeUUID.unknown
_MILLIS = 0xFFFF_FFFF_FFFF
_VERSION = 0x7000  # version 7, in the 16 bits after the milliseconds
_VARIANT = 0b10 << 62
_RAND_B = (1 << 62) - 1


def new_event_id() -> uuid.UUID:
    """A new random UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Built as `uuid.UUID(int=...)` would, without the constructor's checks of its
    arguments, which cost twice the rest of an id (Python 3.14's `uuid7()` does
    the same), and written out in one function: each Python call costs about a
    tenth of an id.
    """
    generator = _bits.generator
    if generator is None:
        generator = _bits.seed()
    rand = generator.getrandbits(74)
    made: uuid.UUID = _new_object(uuid.UUID)
    _set_int(
        made,
        ((time.time_ns() // 1_000_000 & _MILLIS) << 16 | _VERSION | rand >> 62) << 64
        | _VARIANT
        | rand & _RAND_B,
    )
    _set_is_safe(made, _UNKNOWN)
    return made


def new_command_id() -> uuid.UUID:
    """A new command id (a UUIDv7, like event ids)."""
    return new_event_id()
