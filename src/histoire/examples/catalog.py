"""Every event type of the shipped examples, for tools that read any store.

`histoire verify` decodes each stored event whose type one of the examples
knows, upcasting old versions on the way, to prove it still reads.
"""

from __future__ import annotations

from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.examples import bank, cart, deletion, support


def make_codec() -> Codec:
    """A codec for the events of every shipped example, with their upcasters."""
    registry = EventRegistry((*bank.EVENTS, *deletion.EVENTS, *cart.EVENTS, support.AlertRaised))
    return Codec(registry, bank.make_upcasters())
