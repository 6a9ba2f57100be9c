"""Keyset paging: a read in batches, each query starting after the last row of the one before."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        rows = fetch(cursor, size)
        yield rows
        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < size:
            return
        cursor = after(rows[-1])
