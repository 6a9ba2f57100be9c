"""Keyset paging: a read in batches, each query starting after the last row of the one before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
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

    `after(last row)` is the cursor of the next batch.
    """
    pages = _sizes(limit, batch_size)
    size = next(pages)
    while size:
        rows = fetch(cursor, size)
        yield rows
        cursor = after(rows[-1]) if rows else cursor
        size = pages.send(rows)


async def async_keyset_pages(
    fetch: Callable[[Cursor, int], Awaitable[list[Any]]],
    after: Callable[[Any], Cursor],
    cursor: Cursor,
    limit: int | None,
    batch_size: int,
) -> AsyncIterator[list[Any]]:
    """`keyset_pages` with an awaited `fetch` (the asyncio stores)."""
    pages = _sizes(limit, batch_size)
    size = next(pages)
    while size:
        rows = await fetch(cursor, size)
        yield rows
        cursor = after(rows[-1]) if rows else cursor
        size = pages.send(rows)


def _sizes(limit: int | None, batch_size: int) -> Generator[int, list[Any], None]:
    """The size of each batch to ask for, sent the rows of the one before; 0: done."""
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        rows: list[Any] = yield size
        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < size:
            break
    yield 0
