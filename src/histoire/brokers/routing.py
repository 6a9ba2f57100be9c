"""Subjects and routing keys: where an event goes on a broker, by category and type.

A NATS subject or an AMQP routing key is words separated by dots:
`<category>.<type>`, the type's own dots kept (`account.bank.Deposited`), so
that `account.>` (NATS) or `account.#` (AMQP) takes a category. A character
other than a letter, a digit, `-` or `_` is written `%XX` (its UTF-8 bytes),
so that a category holding a dot or a wildcard cannot route wrongly. Routing
is only a filter: consumers read the category and type from the envelope.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def word(text: str) -> str:
    """`text` as one word of a subject or routing key."""
    if not text:
        return "%"
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def type_words(type_name: str) -> str:
    """An event type as words: its dots kept as separators, each part escaped."""
    return ".".join(word(part) for part in type_name.split("."))


def routing_key(category: str, type_name: str) -> str:
    """The routing key of an event: `<category>.<type>`."""
    return f"{word(category)}.{type_words(type_name)}"


def patterns(
    categories: Collection[str] | None,
    types: Collection[str] | None,
    *,
    one_word: str,
    many_words: str,
) -> list[str]:
    """The routing patterns covering `categories` x `types` (None: any).

    `one_word` and `many_words` are the broker's wildcards (`*` and `>` on
    NATS, `*` and `#` on AMQP).
    """
    cats = [word(c) for c in sorted(categories)] if categories is not None else [one_word]
    if types is None:
        return [f"{c}.{many_words}" for c in cats]
    return [f"{c}.{type_words(t)}" for c in cats for t in sorted(types)]


def selected(
    category: str, type_name: str, categories: Collection[str] | None, types: Collection[str] | None
) -> bool:
    """Whether an event of `category` and `type_name` passes the filters (None: any)."""
    return (categories is None or category in categories) and (types is None or type_name in types)
