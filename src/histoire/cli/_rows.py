"""A stored event as the commands show it, field by field.

A row edited behind histoire's back is still shown: a corrupt field appears as
stored, marked `(corrupt)` in tables and listed under `problems` in JSON, and
the command ends with a warning naming the rows. It never crashes the command.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import click

from histoire.core.recorded import RecordedEvent
from histoire.core.stored_fields import payload_json

MAX_NAMED = 5


def timestamp(moment: dt.datetime) -> str:
    """A UTC instant for a table: `2024-05-01 12:00:01.123`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


NOT_JSON_SHOWN = 200
"""A payload that is not JSON shows this many characters in a table (`--json` gives it whole)."""


def spaced_json(value: Any) -> str:
    """JSON with a space after `,` and `:`, so that a table can wrap it between fields."""
    return json.dumps(value, ensure_ascii=False, default=repr)


class ShownEvent:
    """One stored event and the problems of its row, formatted for a table or JSON."""

    def __init__(self, record: RecordedEvent) -> None:
        self.record = record
        self.problems = {p.field: p for p in record.problems()}

    def value(self, field: str) -> Any:
        """The field as read, or as stored when it is corrupt."""
        problem = self.problems.get(field)
        return problem.value if problem is not None else getattr(self.record, field)

    def cell(self, field: str, text: Callable[[Any], str] = str) -> str:
        """The field for a table cell; a corrupt one as stored, marked."""
        problem = self.problems.get(field)
        if problem is None:
            return text(getattr(self.record, field))
        value = problem.value
        shown = value.isoformat() if isinstance(value, dt.datetime) else repr(value)
        return f"{shown} (corrupt)"

    def type_cell(self) -> str:
        """`type v<schema_version>`."""
        return f"{self.cell('type')} v{self.cell('schema_version')}"

    def data_cell(self) -> str:
        """The payload: compact JSON, or the stored value marked as broken."""
        if "data" in self.problems:
            return self.cell("data")
        data, error = payload_json(self.record)
        if not error:
            return spaced_json(data)
        text = str(data)
        if len(text) > NOT_JSON_SHOWN:
            text = f"{text[:NOT_JSON_SHOWN]}... ({len(text):,} characters)"
        return f"{text} (not JSON)"

    def metadata_cell(self) -> str:
        """The metadata as `key=value` pairs."""
        if "metadata" in self.problems:
            return self.cell("metadata")
        return ", ".join(f"{k}={v}" for k, v in self.record.metadata.items())

    def as_json(self) -> dict[str, Any]:
        """Every field, for `--json`: data and metadata as JSON values; `problems` if any."""
        data, data_error = payload_json(self.record)
        out: dict[str, Any] = {
            "position": self.value("position"),
            "commit": self.value("commit"),
            "stream_id": self.value("stream_id"),
            "version": self.value("version"),
            "type": self.value("type"),
            "schema_version": self.value("schema_version"),
            "recorded_at": self._json("recorded_at", lambda t: t.astimezone(dt.UTC).isoformat()),
            "event_id": self._json("event_id", str),
            "causation_id": self._json("causation_id", _optional_str),
            "correlation_id": self._json("correlation_id", _optional_str),
            "metadata": self.value("metadata"),
            "data": data,
        }
        if data_error and "data" not in self.problems:
            out["data_error"] = data_error
        if self.problems:
            out["problems"] = [p.reason for p in self.problems.values()]
        return out

    def _json(self, field: str, convert: Callable[[Any], Any]) -> Any:
        problem = self.problems.get(field)
        if problem is None:
            return convert(getattr(self.record, field))
        value = problem.value
        return value.isoformat() if isinstance(value, dt.datetime) else value


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


class CorruptTally:
    """Counts the corrupt rows a command showed, to warn once at the end."""

    def __init__(self) -> None:
        self.positions: list[object] = []

    def add(self, shown: ShownEvent) -> ShownEvent:
        """Note `shown` if its row is corrupt; return it."""
        if shown.problems:
            self.positions.append(shown.value("position"))
        return shown

    def warn(self) -> None:
        """Say on stderr which rows were corrupt, if any."""
        count = len(self.positions)
        if not count:
            return
        named = ", ".join(str(p) for p in self.positions[:MAX_NAMED])
        more = ", ..." if count > MAX_NAMED else ""
        plural = "s" if count > 1 else ""
        click.echo(
            f"Warning: {count} corrupt event{plural} (position{plural} {named}{more}): "
            "run histoire verify",
            err=True,
        )
