"""`histoire reactions`: run the application's reactions; list, retry and skip parked events.

`run` needs the application (`--app module:attribute`); `parked`, `retry` and
`skip` read and write only what the store records. `retry` and `skip` mark
the event; a running (or the next) `reactions run` acts on it, in the
stream's order.
"""

from __future__ import annotations

import getpass
import uuid

import click

from histoire.app.application import Application
from histoire.app.reactions import ReactionReport, ReactionRunner
from histoire.app.reactions.deadlines import DeadlineScheduler
from histoire.app.reactions.definition import Reaction
from histoire.app.worker import Runnable
from histoire.cli._app import USAGE_ERROR, Settings, app_option, fail, store_option
from histoire.cli._render import Column, make_console, print_table_stream, write_json_line
from histoire.cli._store import opened_broker, opened_store
from histoire.cli._worker import (
    broker_option,
    chosen,
    consumer_group,
    exit_if_failed,
    run_options,
    run_worker,
)
from histoire.store import parking, progress
from histoire.store.protocol import EventStore
from histoire.store.transactions import Transaction, TransactionalStore


@click.group()
def reactions() -> None:
    """Run reactions (events that cause commands and side effects); handle parked events."""


def _chosen(settings: Settings, names: tuple[str, ...]) -> tuple[Application, list[Reaction]]:
    return chosen(settings, "reactions", names, lambda app: app.reactions)


@reactions.command()
@click.argument("names", nargs=-1)
@run_options(once="Deliver up to the head of the log, then exit.", batch_size=100)
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
    """Deliver each new event to the reactions, then follow the log live.

    A failing event is retried with backoff, then parked; its stream waits
    behind it, the others go on. Due deadlines fire. SIGTERM or Ctrl-C:
    finish the batch, exit 0.
    """
    app, chosen = _chosen(settings, names)
    group = consumer_group(member, members)
    with (
        opened_store(settings.store_url, read_only=False, wait=not once) as store,
        opened_broker(broker_url, wait=not once) as broker,
    ):
        runners: list[tuple[str, Runnable]] = [
            (
                r.name,
                ReactionRunner(
                    store, r, app=app, group=group, batch_size=batch_size, broker=broker
                ),
            )
            for r in chosen
        ]
        runners.append(("deadlines", DeadlineScheduler(store, group=group)))
        source = broker.url if broker else store.url
        worker = run_worker(runners, live=not once, where=f"{source} (member {group})")
    for name, report in sorted(worker.reports.items()):
        if not isinstance(report, ReactionReport):
            continue  # the deadline scheduler
        click.echo(
            f"{name}: {report.handled} events handled, {report.failed_attempts} failed "
            f"attempts, {report.parked} parked",
            err=True,
        )
    exit_if_failed(worker)


def _transaction_store(store: EventStore) -> TransactionalStore:
    if not isinstance(store, TransactionalStore):
        fail(f"{store.url} holds no reactions")
    return store


def _entries(tx: Transaction) -> list[parking.Entry]:
    if parking.PARKED not in tx.table_names(parking.PARKED):
        return []
    return parking.entries(tx)


@reactions.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@app_option
@click.pass_obj
def parked(settings: Settings, as_json: bool) -> None:
    """Events the reactions could not handle: parked, retrying, and those waiting behind."""
    with (
        opened_store(settings.store_url, read_only=True) as store,
        _transaction_store(store).transaction(read_only=True) as tx,
    ):
        entries = _entries(tx)
    if as_json:
        for e in entries:
            write_json_line(
                {
                    "reaction": e.name.removeprefix("reaction:"),
                    "stream_id": e.stream_id,
                    "event_id": e.event_id,
                    "position": e.checkpoint.position,
                    "state": e.state,
                    "attempts": e.attempts,
                    "next_attempt_at": e.next_attempt_at.isoformat() if e.next_attempt_at else None,
                    "error": e.error,
                    "traceback": e.traceback,
                    "parked_at": e.parked_at.isoformat(),
                }
            )
        return
    if not entries:
        click.echo("nothing is parked")
        return
    print_table_stream(
        make_console(),
        [
            Column("Reaction"),
            Column("Stream"),
            Column("Event"),
            Column("State"),
            Column("Attempts", "right"),
            Column("Error", flexible=True),
        ],
        (
            (
                e.name.removeprefix("reaction:"),
                e.stream_id,
                e.event_id,
                e.state,
                str(e.attempts),
                e.error or "",
            )
            for e in entries
        ),
    )


@reactions.command()
@click.argument("event_id", required=False)
@click.option("--all", "every", is_flag=True, help="Retry every parked event.")
@store_option
@app_option
@click.pass_obj
def retry(settings: Settings, event_id: str | None, every: bool) -> None:
    """Send a parked event (or --all of them) back to be tried again, now."""
    if (event_id is None) == (not every):
        fail("give an EVENT_ID or --all (not both)", USAGE_ERROR)
    parsed = _event_id(event_id) if event_id is not None else None
    with (
        opened_store(settings.store_url, read_only=False) as store,
        _transaction_store(store).transaction() as tx,
    ):
        parking.ensure_table(tx)
        count = parking.request_retry(tx, parsed)
    if count == 0:
        fail(f"no parked event {parsed}" if parsed else "nothing is parked")
    click.echo(f"{count} parked event{'s' if count != 1 else ''} will be tried again")


@reactions.command()
@click.argument("event_id")
@click.option("--reason", required=True, help="Why it is given up (recorded).")
@click.option("--by", "who", default=None, help="Who gives it up (default: the user name).")
@store_option
@app_option
@click.pass_obj
def skip(settings: Settings, event_id: str, reason: str, who: str | None) -> None:
    """Give up on a parked event, on record; its stream then goes on."""
    parsed = _event_id(event_id)
    with (
        opened_store(settings.store_url, read_only=False) as store,
        _transaction_store(store).transaction() as tx,
    ):
        parking.ensure_table(tx)
        progress.ensure_tables(tx)
        names = parking.mark_skipped(tx, parsed)
        for name in names:
            progress.add_skip(tx, name, parsed, who or getpass.getuser(), reason)
    if not names:
        fail(f"no parked or retrying event {parsed}")
    click.echo(f"skipped {parsed} for {', '.join(n.removeprefix('reaction:') for n in names)}")


def _event_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        fail(f"{text!r} is not an event id (a UUID)", USAGE_ERROR)
