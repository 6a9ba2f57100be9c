"""`histoire verify`: check a store's integrity; exit 1 with a report if anything is wrong."""

from __future__ import annotations

import sys

import click

from histoire.cli._app import FAILURE, Settings
from histoire.cli._integrity import Report, verify_store
from histoire.cli._render import make_console, write_json_line
from histoire.cli._store import opened_store
from histoire.examples.catalog import make_codec


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Write the report as one JSON object.")
@click.pass_obj
def verify(settings: Settings, as_json: bool) -> None:
    """Check the store's integrity, read-only.

    Versions contiguous from 1 in every stream; positions increasing along the
    log; immutability triggers present (SQLite); every payload and metadata
    valid JSON, and events of the shipped examples' types decodable, after
    upcasting, to their classes (other types are reported as unknown, not as
    corrupt). Exits 0 when sound, 1 with the list of defects otherwise.
    """
    with opened_store(settings.store_url, create=False) as store:
        report = verify_store(store, make_codec())
    if as_json:
        write_json_line(_as_json(report))
    else:
        _print(report)
    if not report.ok:
        count = len(report.defects)
        click.echo(f"Error: {count} defect{'' if count == 1 else 's'} in {report.url}", err=True)
        sys.exit(FAILURE)


def _print(report: Report) -> None:
    console = make_console()
    if report.events:
        positions = f"positions {report.first_position}..{report.last_position}"
    else:
        positions = "no events"
    console.print(f"{report.url}: {report.streams} streams, {report.events} events ({positions})")
    if not report.ok:
        console.print(f"[bold red]{len(report.defects)} defects:[/]")
        for defect in report.defects:
            console.print(f"  - {defect}", markup=False)
    else:
        console.print("[green]✓[/] versions contiguous from 1 in every stream")
        console.print("[green]✓[/] positions increasing along the log")
        if report.database_checked:
            console.print("[green]✓[/] the database's own checks pass (immutability triggers)")
        upcast = f", {report.upcast} upcast from an older schema" if report.upcast else ""
        console.print(f"[green]✓[/] {report.decoded} events decoded to their class{upcast}")
    if report.unknown_types:
        unknown = ", ".join(f"{t} ({n})" for t, n in sorted(report.unknown_types.items()))
        console.print(f"Unknown types, checked as JSON only: {unknown}", markup=False)
    if report.ok:
        console.print("[bold green]OK[/]: no defect found")


def _as_json(report: Report) -> dict[str, object]:
    return {
        "url": report.url,
        "ok": report.ok,
        "streams": report.streams,
        "events": report.events,
        "first_position": report.first_position,
        "last_position": report.last_position,
        "decoded": report.decoded,
        "upcast": report.upcast,
        "database_checked": report.database_checked,
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
