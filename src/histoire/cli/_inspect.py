"""Read-only commands that show what a store holds: `streams`, `events`, `log`.

They open the store with `create=False`: on a store that does not exist they
say so and create nothing. `--json` writes JSON Lines (one object per line).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import click

from histoire.cli._app import Settings, app_option, store_option
from histoire.cli._params import TEXT
from histoire.cli._render import Column, make_console, print_table_stream, write_json_line
from histoire.cli._rows import CorruptTally, ShownEvent, timestamp
from histoire.cli._store import opened_store
from histoire.core.recorded import Checkpoint, RecordedEvent
from histoire.core.streams import validate_stream_id

JSON_HELP = "Write JSON Lines (one JSON object per line) instead of a table."


@click.command()
@click.option("--category", metavar="C", type=TEXT, help="Only the streams of this category.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@store_option
@app_option
@click.pass_obj
def streams(settings: Settings, category: str | None, as_json: bool) -> None:
    """List the streams: category, version (number of events) and last change (UTC)."""
    with opened_store(settings.store_url, read_only=True) as store:
        infos = store.list_streams(category=category)
        if as_json:
            for info in infos:
                write_json_line(
                    {
                        "stream_id": info.stream_id,
                        "category": info.category,
                        "version": info.version,
                        "updated_at": info.updated_at.isoformat(),
                    }
                )
            return
        console = make_console()
        rows = (
            (info.stream_id, info.category, str(info.version), timestamp(info.updated_at))
            for info in infos
        )
        columns = [
            Column("Stream"),
            Column("Category"),
            Column("Version", "right"),
            Column("Last change (UTC)"),
        ]
        count = print_table_stream(console, columns, rows)
        where = f" of category {category!r}" if category else ""
        console.print(f"{count} stream{'' if count == 1 else 's'}{where} in {settings.store_url}")


@click.command()
@click.argument("stream", type=TEXT)
@click.option(
    "--from-version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Start at version N (default: the first, or the last with --backward).",
)
@click.option("--backward", is_flag=True, help="Newest first.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N events.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@store_option
@app_option
@click.pass_obj
def events(
    settings: Settings,
    stream: str,
    from_version: int | None,
    backward: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show the events of one STREAM (for example account-ada), oldest first.

    Each event: version, position in the global log, type and schema version,
    when it was recorded, its data as stored (JSON) and its metadata. --json
    adds the event, causation and correlation ids.
    """
    validate_stream_id(stream)
    with opened_store(settings.store_url, read_only=True) as store:
        if store.stream_version(stream) == 0:
            raise click.ClickException(f"stream {stream} does not exist in {settings.store_url}")
        tally = CorruptTally()
        shown = (
            tally.add(ShownEvent(r))
            for r in store.read_stream(
                stream, from_version=from_version, backward=backward, limit=limit
            )
        )
        if as_json:
            for event in shown:
                write_json_line(event.as_json())
            tally.warn()
            return
        console = make_console()
        rows = (
            (
                e.cell("version"),
                e.cell("position"),
                e.type_cell(),
                e.cell("recorded_at", timestamp),
                e.data_cell(),
                e.metadata_cell(),
            )
            for e in shown
        )
        columns = [
            Column("Ver", "right"),
            Column("Pos", "right"),
            Column("Type"),
            Column("Recorded (UTC)"),
            Column("Data", flexible=True),
            Column("Metadata", flexible=True),
        ]
        count = print_table_stream(console, columns, rows)
        console.print(f"{count} event{'' if count == 1 else 's'} of {stream}", markup=False)
        tally.warn()


class CheckpointType(click.ParamType[Checkpoint]):
    """A position in the global log (`42`) or a whole checkpoint (`COMMIT:POSITION`)."""

    name = "position"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Checkpoint:
        if isinstance(value, Checkpoint):
            return value
        text = str(value).strip()
        commit_text, _, position_text = text.rpartition(":")
        try:
            commit = int(commit_text) if commit_text else 0
            position = int(position_text)
        except ValueError:
            self.fail(f"{text!r} is not a position (N) nor a checkpoint (COMMIT:POSITION)")
        if commit < 0 or position < 0:
            self.fail(f"{text!r}: positions and commits are >= 0")
        return Checkpoint(commit, position)


@click.command()
@click.option(
    "--from",
    "after",
    type=CheckpointType(),
    default="0",
    metavar="POSITION",
    help=(
        "Show the events after this position (default 0: from the start). "
        "On PostgreSQL, pass the COMMIT:POSITION checkpoint that --json prints "
        "to resume exactly where a follower stopped."
    ),
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="C",
    type=TEXT,
    help="Only this category (repeatable).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="T",
    type=TEXT,
    help="Only this event type (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N events.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@store_option
@app_option
@click.pass_obj
def log(
    settings: Settings,
    after: Checkpoint,
    categories: tuple[str, ...],
    types: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Show the global log: every event of the store, in log order.

    The log is read after a checkpoint (commit, position). On memory and SQLite
    the commit is always 0 and positions alone order the log. On PostgreSQL the
    log is in commit order; a bare --from POSITION then shows the events whose
    position is greater than POSITION.
    """
    with opened_store(settings.store_url, read_only=True) as store:
        records: Iterator[RecordedEvent] = store.read_log(
            after, categories=categories or None, types=types or None
        )
        if after.commit == 0 and after.position > 0:
            records = (r for r in records if r.position > after.position)
        if limit is not None:
            records = itertools.islice(records, limit)
        tally = CorruptTally()
        shown = (tally.add(ShownEvent(r)) for r in records)
        if as_json:
            for event in shown:
                write_json_line(event.as_json())
            tally.warn()
            return
        console = make_console()
        rows = (
            (
                e.cell("position"),
                e.cell("stream_id"),
                e.cell("version"),
                e.type_cell(),
                e.cell("recorded_at", timestamp),
                e.data_cell(),
            )
            for e in shown
        )
        columns = [
            Column("Pos", "right"),
            Column("Stream"),
            Column("Ver", "right"),
            Column("Type"),
            Column("Recorded (UTC)"),
            Column("Data", flexible=True),
        ]
        count = print_table_stream(console, columns, rows)
        console.print(f"{count} event{'' if count == 1 else 's'}")
        tally.warn()
