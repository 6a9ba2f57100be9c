"""Rendering for the command line: Rich tables for people, JSON lines for machines.

JSON output is JSON Lines: one object per line, written as it is read, so that
a log of any length streams with flat memory. Tables are printed in chunks with
the column widths of the first chunk, for the same reason.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from rich.cells import cell_len
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

_encode = msgspec.json.Encoder().encode

TABLE_CHUNK = 200
MAX_COLUMN = 40
MIN_FLEXIBLE = 24
"""Below this width for each flexible column, their values go under each row."""
COLUMN_GAP = 2


def make_console() -> Console:
    """A console on the current stdout (so that tests capturing it see the output)."""
    return Console(file=sys.stdout, highlight=False)


def write_json_line(value: Any) -> None:
    """Write `value` as one line of JSON on stdout."""
    sys.stdout.write(_encode(value).decode() + "\n")


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a streamed table. Flexible columns share the width left over."""

    header: str
    justify: Literal["left", "right"] = "left"
    flexible: bool = False


def print_table_stream(
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    chunk: int = TABLE_CHUNK,
) -> int:
    """Print `rows` under `columns` chunk by chunk; return the number of rows.

    The first chunk sets the widths of the fixed columns; later chunks reuse
    them, so the output reads as one table while memory stays flat. When the
    fixed columns leave the flexible ones less than MIN_FLEXIBLE characters
    each (80 columns, or a pipe), the flexible values go on lines of their own
    under each row instead of being folded a few characters wide.
    """
    count = 0
    widths: list[int | None] | None = None
    stacked = False
    iterator: Iterator[Sequence[str]] = iter(rows)
    while batch := list(itertools.islice(iterator, chunk)):
        if widths is None:
            widths = [
                None
                if column.flexible
                else min(MAX_COLUMN, max(cell_len(column.header), *(cell_len(r[i]) for r in batch)))
                for i, column in enumerate(columns)
            ]
            stacked = _too_narrow(console.width, columns, widths)
        if stacked:
            _print_stacked(console, columns, widths, batch, header=count == 0)
        else:
            table = _table(columns, widths, header=count == 0)
            for row in batch:
                table.add_row(*(Text(cell) for cell in row))
            console.print(table)
        count += len(batch)
    return count


def _too_narrow(width: int, columns: Sequence[Column], widths: Sequence[int | None]) -> bool:
    flexible = sum(1 for column in columns if column.flexible)
    if not flexible:
        return False
    fixed = sum(w for w in widths if w is not None) + COLUMN_GAP * (len(columns) - 1)
    return width - fixed < MIN_FLEXIBLE * flexible


def _table(columns: Sequence[Column], widths: Sequence[int | None], *, header: bool) -> Table:
    table = Table(box=None, show_header=header, pad_edge=False, header_style="bold")
    for column, width in zip(columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            overflow="fold",
            width=width,
            ratio=1 if column.flexible else None,
        )
    return table


def _print_stacked(
    console: Console,
    columns: Sequence[Column],
    widths: Sequence[int | None],
    batch: Sequence[Sequence[str]],
    *,
    header: bool,
) -> None:
    """Each row: its fixed cells on one line, then each flexible value on its own lines."""
    fixed = [(i, c) for i, c in enumerate(columns) if not c.flexible]
    flexible = [(i, c) for i, c in enumerate(columns) if c.flexible]
    fixed_columns = [c for _, c in fixed]
    fixed_widths = [widths[i] for i, _ in fixed]
    indent = (fixed_widths[0] or 0) + COLUMN_GAP
    if header:
        console.print(_table(fixed_columns, fixed_widths, header=True))
    for row in batch:
        line = _table(fixed_columns, fixed_widths, header=False)
        line.add_row(*(Text(row[i]) for i, _ in fixed))
        parts: list[Any] = [line]
        for i, column in flexible:
            if not row[i]:
                continue
            label = f"{column.header.lower()}: " if len(flexible) > 1 else ""
            text = Text(label + row[i], overflow="fold")
            parts.append(Padding(text, (0, 0, 0, indent)))
        console.print(Group(*parts))
