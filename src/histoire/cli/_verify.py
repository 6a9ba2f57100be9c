"""`histoire verify`: check a store's integrity; exit 1 with a report if anything is wrong."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from histoire.app.verify import VerifyReport
from histoire.app.verify import verify as verify_store
from histoire.cli._app import FAILURE, Settings, app_option, store_option
from histoire.cli._render import make_console, write_json_line
from histoire.cli._store import opened_store
from histoire.examples.catalog import make_codec


@click.command()
@click.option(
    "--full",
    is_flag=True,
    help="Run the database's complete integrity check (SQLite integrity_check), slower.",
)
@click.option("--json", "as_json", is_flag=True, help="Write the report as one JSON object.")
@store_option
@app_option
@click.pass_obj
def verify(settings: Settings, full: bool, as_json: bool) -> None:
    """Check the store's integrity, read-only.

    The database's own check (SQLite PRAGMA quick_check, or integrity_check with
    --full; amcheck on PostgreSQL when installed); immutability triggers present;
    every row holding what histoire writes; every payload and metadata valid JSON;
    events decoded with your application's types and upcasters (--app), upcast
    to their current schema; versions contiguous from 1 in every stream;
    positions increasing along the log. Without --app, only the shipped
    examples' types are decoded, others are checked as JSON. Exits 0 when
    sound, 1 with the list of defects otherwise.
    """
    app = settings.app
    codec = app.codec() if app is not None else make_codec()
    with opened_store(settings.store_url, read_only=True) as store:
        report = verify_store(store, codec, full=full)
    app_name = app.name if app is not None else None
    if as_json:
        write_json_line(_as_json(report, app_name))
    else:
        _print(report, app_name)
    if not report.ok:
        count = len(report.defects)
        click.echo(f"Error: {count} defect{'' if count == 1 else 's'} in {report.url}", err=True)
        sys.exit(FAILURE)


def _print(report: VerifyReport, app_name: str | None) -> None:
    console = make_console()
    if report.events:
        positions = f"positions {report.first_position}..{report.last_position}"
    else:
        positions = "no events"
    console.print(
        f"{report.url}: {report.streams} streams, {report.events} events ({positions})",
        markup=False,
    )
    if not report.ok:
        count = len(report.defects)
        console.print(f"[bold red]{count} defect{'' if count == 1 else 's'}:[/]")
        for defect in report.defects:
            console.print(f"  - {defect}", markup=False)
    else:
        if report.checks:
            checks = escape(", ".join(report.checks))
            console.print(f"[green]✓[/] the database's own checks pass: {checks}")
        console.print("[green]✓[/] every row holds what histoire writes")
        console.print("[green]✓[/] versions contiguous from 1 in every stream")
        console.print("[green]✓[/] positions increasing along the log")
        upcast = f", {report.upcast} upcast from an older schema" if report.upcast else ""
        types = f"the types of {app_name}" if app_name else "the shipped examples' types"
        console.print(
            f"[green]✓[/] {report.decoded} events decoded to their class{upcast} ({types})"
        )
    for note in report.skipped:
        console.print(f"Not checked: {note}", markup=False)
    if report.unknown_types:
        unknown = ", ".join(f"{t} ({n})" for t, n in sorted(report.unknown_types.items()))
        console.print(f"Unknown types, checked as JSON only: {unknown}", markup=False)
        if app_name is None:
            console.print(
                "Pass --app module:attribute (or set HISTOIRE_APP) to decode them "
                "with your application's classes and upcasters.",
                markup=False,
            )
    if report.ok:
        console.print("[bold green]OK[/]: no defect found")


def _as_json(report: VerifyReport, app_name: str | None) -> dict[str, object]:
    return {
        "url": report.url,
        "ok": report.ok,
        "app": app_name,
        "streams": report.streams,
        "events": report.events,
        "first_position": report.first_position,
        "last_position": report.last_position,
        "decoded": report.decoded,
        "upcast": report.upcast,
        "checks": report.checks,
        "skipped": report.skipped,
        "unknown_types": dict(sorted(report.unknown_types.items())),
        "defects": [
            {
                "stream_id": d.stream_id,
                "version": d.version,
                "position": d.position,
                "problem": d.problem,
            }
            for d in report.defects
        ],
    }
