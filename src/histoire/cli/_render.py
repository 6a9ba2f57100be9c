"""Rendering for the command line: Rich tables for people, JSON lines for machines.

JSON output is JSON Lines: one object per line, written as it is read, so that
a log of any length streams with flat memory. Tables are printed in chunks with
the column widths of the first chunk, for the same reason.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from histoire.cli._stored import metadata_of, payload_of
from histoire.core.recorded import RecordedEvent

_encode = msgspec.json.Encoder().encode

TABLE_CHUNK = 200
MAX_COLUMN = 40


def make_console() -> Console:
    """A console on the current stdout (so that tests capturing it see the output)."""
    return Console(file=sys.stdout, highlight=False)


def write_json_line(value: Any) -> None:
    """Write `value` as one line of JSON on stdout."""
    sys.stdout.write(_encode(value).decode() + "\n")


def json_text(value: Any) -> str:
    """Compact JSON of `value`."""
    return _encode(value).decode()


def spaced_json(value: Any) -> str:
    """JSON with a space after `,` and `:`, so that a table can wrap it between fields."""
    return json.dumps(value, ensure_ascii=False)


def timestamp(moment: dt.datetime) -> str:
    """A UTC instant for a table: `2024-05-01 12:00:01.123`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def event_json(record: RecordedEvent) -> dict[str, Any]:
    """Every field of a stored event, for `--json` (data and metadata as JSON values)."""
    data, data_error = payload_of(record)
    metadata, metadata_error = metadata_of(record)
    out: dict[str, Any] = {
        "position": record.position,
        "commit": record.commit,
        "stream_id": record.stream_id,
        "version": record.version,
        "type": record.type,
        "schema_version": record.schema_version,
        "recorded_at": record.recorded_at.astimezone(dt.UTC).isoformat(),
        "event_id": str(record.event_id),
        "causation_id": str(record.causation_id) if record.causation_id else None,
        "correlation_id": str(record.correlation_id) if record.correlation_id else None,
        "metadata": metadata,
        "data": data,
    }
    if data_error:
        out["data_error"] = data_error
    if metadata_error:
        out["metadata_error"] = metadata_error
    return out


def data_text(record: RecordedEvent) -> str:
    """The payload for a table cell: compact JSON, or the raw text marked as broken."""
    data, error = payload_of(record)
    if error:
        return f"{data!s} (not JSON)"
    return spaced_json(data)


def metadata_text(record: RecordedEvent) -> str:
    """The metadata for a table cell: `key=value` pairs."""
    metadata, error = metadata_of(record)
    if error:
        return f"{metadata!s} ({error})"
    return ", ".join(f"{k}={v}" for k, v in metadata.items())


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
    them, so the output reads as one table while memory stays flat.
    """
    count = 0
    widths: list[int | None] | None = None
    iterator: Iterator[Sequence[str]] = iter(rows)
    while batch := list(itertools.islice(iterator, chunk)):
        if widths is None:
            widths = [
                None
                if column.flexible
                else min(MAX_COLUMN, max(cell_len(column.header), *(cell_len(r[i]) for r in batch)))
                for i, column in enumerate(columns)
            ]
        table = Table(box=None, show_header=count == 0, pad_edge=False, header_style="bold")
        for column, width in zip(columns, widths, strict=True):
            table.add_column(
                column.header,
                justify=column.justify,
                overflow="fold",
                width=width,
                ratio=1 if column.flexible else None,
            )
        for row in batch:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
        count += len(batch)
    return count
