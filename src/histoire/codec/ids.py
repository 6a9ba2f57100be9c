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
generator is reseeded in each process (a forked child would otherwise draw
its parent's numbers) and is private (a user's `random.seed()` does not make
ids repeat).
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
        self._pid = -1
        self._random = random.Random(0)

    def draw(self, bits: int) -> int:
        pid = os.getpid()
        if pid != self._pid:
            self._random.seed(os.urandom(32))
            self._pid = pid
        return self._random.getrandbits(bits)


_bits = _Bits()


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
    return uuid.UUID(int=value)


def new_command_id() -> uuid.UUID:
    """A new command id (a UUIDv7, like event ids)."""
    return new_event_id()
