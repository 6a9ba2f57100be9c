"""`histoire migrate`: create or upgrade the schema of the store."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from histoire.cli._app import Settings, app_option, store_option
from histoire.cli._render import make_console
from histoire.core.errors import SchemaError, StoreNotFoundError
from histoire.store.urls import open_store


@click.command()
@store_option
@app_option
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Create the store, or bring its schema up to date, and say which."""
    url = settings.store_url
    console = make_console()
    if urlsplit(url).scheme.lower() == "memory":
        open_store(url).close()
        console.print(f"{url}: a memory store keeps nothing, so it has no schema to migrate.")
        return
    try:
        open_store(url, create=False).close()
    except StoreNotFoundError:
        did = "created a new event store"
    except SchemaError:
        did = "the database held no histoire schema, or an older one: it is now up to date"
    else:
        console.print(f"{url}: the schema is up to date; nothing to do.")
        return
    open_store(url, create=True).close()
    console.print(f"{url}: {did}.")
