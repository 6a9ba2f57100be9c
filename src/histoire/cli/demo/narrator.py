"""How the demo speaks: chapters, commands, decisions and events, in Rich."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from histoire.app.handler import CommandResult
from histoire.core.recorded import RecordedEvent


def money(cents: int, currency: str = "EUR") -> str:
    """`12050` -> `120.50 EUR`."""
    return f"{cents / 100:,.2f} {currency}"


def short(value: uuid.UUID | None) -> str:
    """The last 8 hex digits of an id, enough to tell ids apart on screen.

    Not the first ones: those of a UUIDv7 are its timestamp, the same for
    events written within a minute of each other.
    """
    return "-" if value is None else str(value)[-8:]


def is_refusal(type_name: str) -> bool:
    """Refusal events of the examples are named `...Refused`."""
    return type_name.endswith("Refused")


class Narrator:
    """Prints the story: one chapter at a time, short sentences."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def opening(self, title: str, text: str) -> None:
        self.console.print(Panel(text, title=f"[bold]{title}[/]", expand=False))

    def chapter(self, number: int, title: str, intro: str) -> None:
        self.console.print()
        self.console.rule(f"[bold cyan]{number}. {title}[/]")
        self.console.print(intro)
        self.console.print()

    def say(self, text: str) -> None:
        self.console.print(text)

    def blank(self) -> None:
        self.console.print()

    def command(self, stream_id: str, command: object, metadata: Mapping[str, Any]) -> None:
        user = escape(str(metadata.get("user", "?")))
        self.console.print(f"[bold]▶ {user} → {stream_id}:[/] {escape(repr(command))}")

    def outcome(self, result: CommandResult[Any, Any]) -> None:
        """The decision taken on a command and the events it stored."""
        for record in result.events:
            if is_refusal(record.type):
                self.console.print(f"  [red]✗ refused[/]: {_place(record)}")
            else:
                self.console.print(f"  [green]✓ accepted[/]: {_place(record)}")
            self.console.print(f"    [dim]{escape(bytes(record.data).decode())}[/]")

    def malformed(self, error: Exception, stream_id: str, version: int) -> None:
        self.console.print(
            f"  [yellow]⚠ malformed[/]: {escape(str(error))}. Nothing stored: "
            f"{stream_id} is still at version {version}."
        )

    def events_table(
        self,
        records: Iterable[RecordedEvent],
        *,
        title: str,
    ) -> None:
        """A table of the stored events of one stream, with their data as stored."""
        self.table(
            title,
            ["Pos", "Ver", "Event", "Schema", "Data"],
            (
                [
                    str(r.position),
                    str(r.version),
                    r.type,
                    str(r.schema_version),
                    _spaced_json(bytes(r.data)),
                ]
                for r in records
            ),
        )

    def audit_table(self, records: Iterable[RecordedEvent], *, title: str) -> None:
        """Who did what, from where, and what caused it."""
        self.table(
            title,
            ["Ver", "Event", "By", "Via", "Caused by", "Correlation"],
            (
                [
                    str(r.version),
                    r.type,
                    str(r.metadata.get("user", "?")),
                    str(r.metadata.get("channel", "?")),
                    short(r.causation_id),
                    short(r.correlation_id),
                ]
                for r in records
            ),
        )

    def causal_table(self, records: Iterable[RecordedEvent], *, title: str) -> None:
        """Events across streams, linked by their causation and correlation ids."""
        self.table(
            title,
            ["Stream@Ver", "Event", "Event id", "Caused by", "Correlation"],
            (
                [
                    f"{r.stream_id}@{r.version}",
                    r.type,
                    short(r.event_id),
                    short(r.causation_id),
                    short(r.correlation_id),
                ]
                for r in records
            ),
        )

    def table(self, title: str, headers: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
        table = _table(title)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        self.console.print(table)

    def plain(self, text: str) -> None:
        """Print without markup or wrapping: shell commands to copy."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _spaced_json(data: bytes) -> str:
    """JSON with a space after `,` and `:`, so that a table can wrap it between fields."""
    try:
        return json.dumps(json.loads(data), ensure_ascii=False)
    except ValueError:
        return data.decode(errors="replace")


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)


def _place(record: RecordedEvent) -> str:
    return (
        f"[bold]{record.type}[/], schema {record.schema_version} → "
        f"{record.stream_id} version {record.version}, position {record.position}"
    )
