"""`histoire relay`: publish the store's events to a message broker; `relay status`.

`histoire relay --to URL` publishes every committed event, in log order, from
the relay's checkpoint (kept in the store), then follows the log live until
SIGTERM or Ctrl-C. `histoire relay status` shows each relay's checkpoint and
lag; it reads only what the store records.
"""

from __future__ import annotations

import click

from histoire.app.relay import Relay, RelayReport, relay_status
from histoire.app.worker import Runnable
from histoire.cli._app import USAGE_ERROR, Settings, app_option, fail, store_option
from histoire.cli._render import Column, make_console, print_table_stream, write_json_line
from histoire.cli._store import opened_broker, opened_store
from histoire.cli._worker import consumer_group, exit_if_failed, run_options, run_worker


@click.group(invoke_without_command=True)
@click.option(
    "--to",
    "broker_url",
    metavar="URL",
    default=None,
    help="The broker: nats://host:4222, redis://host:6379/0, amqp://user:password@host:5672/.",
)
@run_options(once="Publish up to the head of the log, then exit.", batch_size=1000)
@click.pass_context
def relay(
    ctx: click.Context,
    broker_url: str | None,
    member: int,
    members: int,
    once: bool,
    batch_size: int,
) -> None:
    """Publish every committed event to a broker, in log order, then follow the log live.

    The checkpoint is kept in the store, recorded once the broker acknowledged
    a batch: killed and restarted, the relay loses nothing (duplicates are
    dropped by event id). SIGTERM or Ctrl-C: finish the batch, exit 0.
    """
    if ctx.invoked_subcommand is not None:
        return
    if broker_url is None:
        fail("relay needs a broker: pass --to URL (or use 'histoire relay status')", USAGE_ERROR)
    settings: Settings = ctx.obj
    group = consumer_group(member, members)
    with (
        opened_store(settings.store_url, read_only=False, wait=not once) as store,
        opened_broker(broker_url, wait=not once) as broker,
    ):
        assert broker is not None
        runner = Relay(store, broker, group=group, batch_size=batch_size)
        runners: list[tuple[str, Runnable]] = [(runner.name, runner)]
        worker = run_worker(
            runners, live=not once, where=f"{store.url} to {broker.url} (member {group})"
        )
    for name, report in sorted(worker.reports.items()):
        assert isinstance(report, RelayReport)
        click.echo(
            f"{name}: {report.published} events published, "
            f"{report.broker_failures} failed attempts (retried)",
            err=True,
        )
    exit_if_failed(worker)


@relay.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@app_option
@click.pass_obj
def status(settings: Settings, as_json: bool) -> None:
    """Each relay's checkpoint, the head of the log, and the lag (events, seconds)."""
    with opened_store(settings.store_url, read_only=True) as store:
        statuses = relay_status(store)
    if as_json:
        for s in statuses:
            write_json_line(
                {
                    "relay": s.relay,
                    "member": s.member,
                    "members": s.members,
                    "checkpoint": {
                        "commit": s.checkpoint.commit,
                        "position": s.checkpoint.position,
                    },
                    "head": {"commit": s.head.commit, "position": s.head.position},
                    "published": s.published,
                    "lag_events": s.lag_events,
                    "lag_seconds": round(s.lag_seconds, 3),
                    "state": s.state,
                    "updated_at": s.updated_at.isoformat(),
                }
            )
        return
    if not statuses:
        click.echo("no relay has run on this store yet")
        return
    print_table_stream(
        make_console(),
        [
            Column("Relay", flexible=True),
            Column("Member"),
            Column("Position", "right"),
            Column("Head", "right"),
            Column("Lag", "right"),
            Column("Lag (s)", "right"),
            Column("State"),
        ],
        (
            (
                s.relay.removeprefix("relay:"),
                f"{s.member}/{s.members}",
                str(s.checkpoint.position),
                str(s.head.position),
                str(s.lag_events),
                f"{s.lag_seconds:.1f}",
                s.state,
            )
            for s in statuses
        ),
    )
