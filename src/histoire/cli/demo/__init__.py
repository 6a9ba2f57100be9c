"""`histoire demo`: the story of the seed, told on a real store.

By default the demo writes a new SQLite file, `histoire-demo.db`, in the
current folder, and refuses to touch one that exists unless `--fresh` is given.
`--fresh` replaces the file only if it holds nothing but the demo's own streams:
it never erases someone's data. With `--store URL` (or HISTOIRE_STORE) the demo
uses that store instead; a store other than an SQLite file must be empty.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console

from histoire.cli._app import Settings, store_option
from histoire.cli._render import make_console
from histoire.cli._store import opened_store
from histoire.cli.demo.narrator import Narrator
from histoire.cli.demo.story import STREAMS, Story
from histoire.core.errors import CorruptDatabaseError, SchemaError, StoreError
from histoire.core.recorded import START
from histoire.store.sqlite import sqlite_path_from_url
from histoire.store.urls import open_store

DEMO_STORE = "sqlite:///histoire-demo.db"
OUTBOX = "histoire-demo-outbox"


@click.command()
@click.option(
    "--fresh",
    is_flag=True,
    help="Replace the demo's SQLite file if it exists (only if it holds the demo's streams alone).",
)
@store_option
@click.pass_obj
def demo(settings: Settings, fresh: bool) -> None:
    """Tell the story of event sourcing on a real store, step by step.

    Commands, decisions (refusals included), events with versions and positions,
    state rebuilt from events, a snapshot, an old event upcast, the state as of an
    earlier instant, an account deletion refused then accepted, and the products
    removed from carts since day one. Writes a new histoire-demo.db in the current
    folder unless --store (or HISTOIRE_STORE) names another store.
    """
    url = settings.store_url if settings.store_chosen else DEMO_STORE
    _prepare(url, fresh)
    console = make_console()
    with _outbox(url, fresh) as outbox, opened_store(url, read_only=False) as store:
        if store.head() != START:
            raise click.ClickException(
                f"{url} already holds events; the demo writes its story into an empty store"
            )
        Story(store, Narrator(console), outbox).tell()
    _explore(console, url)


def _prepare(url: str, fresh: bool) -> None:
    """Refuse an existing SQLite file, or replace it with --fresh if it is the demo's."""
    if urlsplit(url).scheme.lower() != "sqlite":
        if fresh:
            raise click.UsageError(
                "--fresh replaces SQLite files only; give the demo an empty store"
            )
        return
    path = Path(sqlite_path_from_url(url))
    if not path.exists():
        return
    if not fresh:
        raise click.ClickException(
            f"{path} already exists; pass --fresh to replace it, "
            "or choose another file with --store sqlite:///OTHER.db"
        )
    try:
        store = open_store(url, create=False)
    except (SchemaError, CorruptDatabaseError) as exc:
        raise click.ClickException(
            f"{path} is not a histoire store; not replacing it ({exc})"
        ) from exc
    try:
        foreign = sorted(
            info.stream_id for info in store.list_streams() if info.stream_id not in STREAMS
        )
    finally:
        store.close()
    if foreign:
        raise click.ClickException(
            f"{path} holds streams the demo did not write "
            f"({', '.join(foreign[:3])}); not replacing it"
        )
    for suffix in ("", "-wal", "-shm", "-journal", "-writers"):
        try:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot remove {path}{suffix}: {exc}") from exc


@contextmanager
def _outbox(url: str, fresh: bool) -> Iterator[Path]:
    """Where the demo's support mails go: beside its SQLite file, in the current folder for
    PostgreSQL, in a temporary folder for the memory store (which leaves nothing behind).

    With --fresh, the mails of an earlier run go (only the .eml files the demo writes).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        with tempfile.TemporaryDirectory(prefix="histoire-demo-") as folder:
            yield Path(folder) / OUTBOX
        return
    outbox = Path(OUTBOX)
    if scheme == "sqlite":
        outbox = Path(sqlite_path_from_url(url)).parent / OUTBOX
    if fresh and outbox.is_dir():
        for mail in outbox.glob("*.eml"):
            mail.unlink(missing_ok=True)
    yield outbox


def _explore(console: Console, url: str) -> None:
    narrator = Narrator(console)
    narrator.blank()
    console.rule("[bold cyan]Explore[/]")
    if urlsplit(url).scheme.lower() == "memory":
        narrator.say(
            "The memory store is gone with this process. Run `histoire demo` without "
            "--store to write the story into a file you can explore."
        )
        return
    narrator.say("The story is stored. Explore it with:")
    quoted = shlex.quote(url)
    for command in (
        "streams",
        "events account-ada",
        "log --category cart",
        "verify",
    ):
        narrator.plain(f"  histoire --store {quoted} {command}")
