"""Keyset paging: a read in batches, each query starting after the last row of the one before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

Cursor = TypeVar("Cursor")


def keyset_pages(
    fetch: Callable[[Cursor, int], list[Any]],
    after: Callable[[Any], Cursor],
    cursor: Cursor,
    limit: int | None,
    batch_size: int,
) -> Iterator[list[Any]]:
    """Batches of `fetch(cursor, size)` rows, at most `limit` rows in all, until a short one.

    `after(last row)` is the cursor of the next batch. (The sizes are worked out
    here, not in a generator shared with `async_keyset_pages`: every read of a
    stream in a command paid 2,500 instructions for its `next` and `send`.)
    """
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        rows = fetch(cursor, size)
        yield rows
        if len(rows) < size:
            return
        if remaining is not None:
            remaining -= size
        cursor = after(rows[-1])


async def async_keyset_pages(
    fetch: Callable[[Cursor, int], Awaitable[list[Any]]],
    after: Callable[[Any], Cursor],
    cursor: Cursor,
    limit: int | None,
    batch_size: int,
) -> AsyncIterator[list[Any]]:
    """`keyset_pages` with an awaited `fetch` (the asyncio stores)."""
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        rows = await fetch(cursor, size)
        yield rows
        if len(rows) < size:
            return
        if remaining is not None:
            remaining -= size
        cursor = after(rows[-1])
