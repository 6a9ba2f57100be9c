"""What the worker commands share: consumer-group options, stopping on signals, running."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from histoire.app.application import Application
from histoire.app.follower import ConsumerGroup
from histoire.app.worker import Runnable, Worker
from histoire.cli._app import FAILURE, USAGE_ERROR, Settings, app_option, fail, store_option
from histoire.core.errors import (
    BrokerUnavailableError,
    InvalidInputError,
    StoreUnavailableError,
)

T = TypeVar("T")


def group_options(command: Any) -> Any:
    command = click.option(
        "--of",
        "members",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="How many members the consumer group has.",
    )(command)
    return click.option(
        "--member",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="This process's member number in its consumer group (0-based).",
    )(command)


@contextmanager
def stopping_on_signals(
    saying: str = "stopping: finishing the batch in hand...",
) -> Iterator[threading.Event]:
    """An Event set by SIGTERM or SIGINT (`saying` then goes to stderr), the handlers
    restored afterwards."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        stop.set()
        click.echo(saying, err=True)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


FIRST_PAUSE = 0.5
"""Seconds a live worker waits before trying again to reach a store or broker down at its
start; doubled after each failure, up to MAX_PAUSE."""
MAX_PAUSE = 10.0


def reach(open_it: Callable[[], T], what: str, *, wait: bool) -> T:
    """`open_it()`; if `wait`, retried while `what` is unreachable (a live worker).

    A worker started before its database or broker is up (a container started
    first, a server restarting) waits for it, as it does when the server goes
    down during its run, instead of exiting: one line on stderr per attempt,
    with backoff. SIGTERM or Ctrl-C while it waits: exit 0, nothing was done.
    Without `wait` (`--once`, the status commands) the error ends the command.
    """
    if not wait:
        return open_it()
    pause = FIRST_PAUSE
    with stopping_on_signals(f"stopping: {what} was never reached") as stop:
        while True:
            try:
                return open_it()
            except (StoreUnavailableError, BrokerUnavailableError) as exc:
                click.echo(f"waiting for {what}: {exc} (retrying in {pause:g} s)", err=True)
            if stop.wait(pause):
                sys.exit(0)
            pause = min(pause * 2, MAX_PAUSE)


def run_options(*, once: str, batch_size: int) -> Callable[[Any], Any]:
    """The options every worker command takes: its consumer group, `--once`, `--batch-size`,
    `--store` and `--app` (`once` is the help of `--once`)."""

    def decorate(command: Any) -> Any:
        for option in (
            app_option,
            store_option,
            click.option(
                "--batch-size", type=click.IntRange(min=1), default=batch_size, show_default=True
            ),
            click.option("--once", is_flag=True, help=once),
            group_options,
        ):
            command = option(command)
        return command

    return decorate


def broker_option(command: Any) -> Any:
    """`--from-broker URL`: follow a broker's subscription instead of the store's log."""
    return click.option(
        "--from-broker",
        "broker_url",
        metavar="URL",
        default=None,
        help="Read the events from this broker (nats://, redis://, amqp://), where "
        "`histoire relay` publishes them, instead of from the store's log.",
    )(command)


def consumer_group(member: int, members: int) -> ConsumerGroup:
    try:
        return ConsumerGroup(member, members)
    except InvalidInputError as exc:
        fail(str(exc), USAGE_ERROR)


def run_worker(followers: Sequence[tuple[str, Runnable]], *, live: bool, where: str) -> Worker:
    """Run `followers` until caught up (or, if `live`, until SIGTERM or Ctrl-C)."""
    worker = Worker(followers, live=live)
    listed = ", ".join(name for name, _ in followers)
    click.echo(
        f"running {listed} on {where}"
        + ("; SIGTERM or Ctrl-C stops" if live else " until caught up"),
        err=True,
    )
    with stopping_on_signals() as stop:
        ok = worker.run(stop)
    for name, crash in sorted(worker.crashes.items()):
        click.echo(f"{name}: stopped by {type(crash).__name__}: {crash}", err=True)
    if not ok:
        click.echo("a follower stopped on a failure: see above", err=True)
    return worker


def exit_if_failed(worker: Worker) -> None:
    """Exit with status 1 when a follower failed or crashed."""
    if worker.failed:
        sys.exit(FAILURE)


def chosen(
    settings: Settings,
    kind: str,
    names: tuple[str, ...],
    pick: Callable[[Application], Sequence[T]],
) -> tuple[Application, list[T]]:
    """The application and its followers of `kind` named `names` (all of them if none)."""
    app = settings.app
    if app is None:
        fail(
            f"{kind} need your application: pass --app module:attribute (or set HISTOIRE_APP)",
            USAGE_ERROR,
        )
    defined = list(pick(app))
    if not defined:
        fail(f"application {app.name!r} defines no {kind}", USAGE_ERROR)
    by_name = {getattr(item, "name", ""): item for item in defined}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        fail(
            f"application {app.name!r} has no {kind[:-1]} {unknown[0]!r} "
            f"({', '.join(sorted(by_name))})",
            USAGE_ERROR,
        )
    return app, [by_name[name] for name in names] if names else defined
