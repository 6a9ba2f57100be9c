"""`histoire projections`: run, watch, rebuild and unblock the application's projections.

`run` and `rebuild` need the application (`--app module:attribute`) for the
projections' code; `status` and `skip` read and write only what the store
records, and work without it.
"""

from __future__ import annotations

import getpass
import sys
import uuid
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from histoire.app.application import Application
from histoire.app.projections import ProjectionRunner, RunReport, generations, projection_status
from histoire.app.projections.definition import Projection
from histoire.app.worker import Runnable
from histoire.cli._app import FAILURE, USAGE_ERROR, Settings, app_option, fail, store_option
from histoire.cli._render import Column, make_console, print_table_stream, write_json_line
from histoire.cli._store import opened_broker, opened_store
from histoire.cli._worker import (
    broker_option,
    chosen,
    consumer_group,
    exit_if_failed,
    group_options,
    run_options,
    run_worker,
    stopping_on_signals,
)
from histoire.store import progress
from histoire.store.protocol import EventStore
from histoire.store.transactions import TransactionalStore


@click.group()
def projections() -> None:
    """Run, watch, rebuild and unblock projections (views built from events)."""


def _chosen(settings: Settings, names: tuple[str, ...]) -> tuple[Application, list[Projection]]:
    return chosen(settings, "projections", names, lambda app: app.projections)


@projections.command()
@click.argument("names", nargs=-1)
@run_options(once="Catch up to the head of the log, then exit.", batch_size=500)
@broker_option
@click.pass_obj
def run(
    settings: Settings,
    names: tuple[str, ...],
    member: int,
    members: int,
    once: bool,
    batch_size: int,
    broker_url: str | None,
) -> None:
    """Catch up from each projection's checkpoint, then follow the log live.

    SIGTERM or Ctrl-C: each projection finishes its batch, commits, and the
    command exits 0. A projection whose handler fails stops (status shows the
    error); the others go on; the exit status is then 1.
    """
    app, chosen = _chosen(settings, names)
    group = consumer_group(member, members)
    with (
        opened_store(settings.store_url, read_only=False, wait=not once) as store,
        opened_broker(broker_url, wait=not once) as broker,
    ):
        codec = app.codec()
        runners: list[tuple[str, Runnable]] = [
            (
                p.name,
                ProjectionRunner(
                    store, p, codec=codec, group=group, batch_size=batch_size, broker=broker
                ),
            )
            for p in chosen
        ]
        source = broker.url if broker else store.url
        worker = run_worker(runners, live=not once, where=f"{source} (member {group})")
    for name, report in sorted(worker.reports.items()):
        assert isinstance(report, RunReport)
        line = f"{name}: {report.handled} events, generation {report.generation}"
        if report.failure is not None:
            line += f"; FAILED: {report.failure}"
        click.echo(line, err=True)
    exit_if_failed(worker)


@projections.command()
@click.argument("name")
@group_options
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@store_option
@app_option
@click.pass_obj
def rebuild(settings: Settings, name: str, member: int, members: int, batch_size: int) -> None:
    """Replay the whole log into a new generation of NAME's read model, beside the old one.

    The old generation serves reads meanwhile (a running `projections run`
    keeps it live); the new one is swapped in once it has caught up.
    """
    app, (projection,) = _chosen(settings, (name,))
    group = consumer_group(member, members)
    with opened_store(settings.store_url, read_only=False) as store:
        head = store.head()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(f"rebuilding {name}", total=max(head.position, 1), rate="-")

            def advance(report: RunReport, batch: Any) -> None:
                done = min(report.checkpoint.position, head.position)
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = f"{report.handled / elapsed:,.0f}" if elapsed > 0 else "-"
                bar.update(task, completed=done, rate=rate)

            runner = ProjectionRunner(
                store,
                projection,
                codec=app.codec(),
                group=group,
                batch_size=batch_size,
                on_batch=advance,
            )
            with stopping_on_signals() as stop:
                report = runner.run(rebuild=True, stop=stop)
            bar.update(task, completed=max(head.position, 1))
    if report.failure is not None:
        fail(f"rebuild of {name} stopped: {report.failure}")
    if report.swapped:
        click.echo(
            f"{name}: generation {report.generation} built ({report.handled} events) "
            "and now serves reads"
        )
    else:
        click.echo(f"{name}: stopped before the end; run rebuild again to resume", err=True)
        sys.exit(FAILURE)


@projections.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@app_option
@click.pass_obj
def status(settings: Settings, name: str | None, as_json: bool) -> None:
    """Each projection's checkpoint, lag (events, seconds), state and last error."""
    with opened_store(settings.store_url, read_only=True) as store:
        statuses = projection_status(store, name)
    if name is not None and not statuses:
        fail(f"projection {name!r} has never run on {settings.store_url}")
    if as_json:
        for s in statuses:
            write_json_line(
                {
                    "projection": s.projection,
                    "generation": s.generation,
                    "version": s.version,
                    "serving": s.serving,
                    "member": s.member,
                    "members": s.members,
                    "checkpoint": {
                        "commit": s.checkpoint.commit,
                        "position": s.checkpoint.position,
                    },
                    "head": {"commit": s.head.commit, "position": s.head.position},
                    "handled": s.handled,
                    "lag_events": s.lag_events,
                    "lag_seconds": round(s.lag_seconds, 3),
                    "state": s.state,
                    "updated_at": s.updated_at.isoformat() if s.updated_at else None,
                    "failed_event_id": s.failed_event_id,
                    "error": s.error,
                    "traceback": s.traceback,
                }
            )
        return
    if not statuses:
        click.echo("no projection has run on this store yet")
        return
    rows = (
        (
            s.projection + ("" if s.serving else " (building)"),
            f"g{s.generation} v{s.version}",
            f"{s.member}/{s.members}",
            str(s.checkpoint.position),
            str(s.lag_events),
            f"{s.lag_seconds:.1f}",
            s.state,
            s.error or "",
        )
        for s in statuses
    )
    print_table_stream(
        make_console(),
        [
            Column("Projection"),
            Column("Generation"),
            Column("Member"),
            Column("Position", "right"),
            Column("Lag", "right"),
            Column("Lag (s)", "right"),
            Column("State"),
            Column("Error", flexible=True),
        ],
        rows,
    )


@projections.command()
@click.argument("name")
@click.argument("event_id")
@click.option("--reason", required=True, help="Why the event is skipped (recorded).")
@click.option("--by", "who", default=None, help="Who skips it (default: the user name).")
@store_option
@app_option
@click.pass_obj
def skip(settings: Settings, name: str, event_id: str, reason: str, who: str | None) -> None:
    """Tell projection NAME to pass over EVENT_ID, on record (who, why, when)."""
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        fail(f"{event_id!r} is not an event id (a UUID)", USAGE_ERROR)
    with opened_store(settings.store_url, read_only=False) as store:
        if store.get_event(parsed) is None:
            fail(f"no event {parsed} in {store.url}")
        _record_skip(store, name, str(parsed), who or getpass.getuser(), reason)
    click.echo(f"{name} will skip {parsed} (run it again to go on)")


def _record_skip(store: EventStore, name: str, event_id: str, who: str, reason: str) -> None:
    if not isinstance(store, TransactionalStore):
        fail(f"{store.url} holds no projections")
    with store.transaction() as tx:
        if not progress.tables_exist(tx) or progress.read_model(tx, name) is None:
            fail(f"projection {name!r} has never run on {store.url}")
        state = progress.read_model(tx, name)
        assert state is not None
        for generation in {state.generation, state.building_generation} - {None}:
            assert generation is not None
            progress.add_skip(
                tx, generations.follower_name(name, generation), event_id, who, reason
            )
