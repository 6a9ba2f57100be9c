"""`histoire migrate`: create or upgrade the schema of the store."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from histoire.cli._app import Settings, app_option, store_option
from histoire.cli._render import make_console
from histoire.core.errors import SchemaError, StoreNotFoundError
from histoire.store.urls import open_store


@click.command()
@click.option(
    "--into-existing-database",
    "into_existing",
    is_flag=True,
    help="Add histoire's tables to an SQLite file that holds another application's tables.",
)
@store_option
@app_option
@click.pass_obj
def migrate(settings: Settings, into_existing: bool) -> None:
    """Create the store, or bring its schema up to date, and say which.

    On an SQLite file holding another application's tables, it refuses unless
    --into-existing-database is given.
    """
    url = settings.store_url
    console = make_console()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
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
    # Only SQLite files are shared this way: PostgreSQL keeps histoire in its own schema.
    options = {"into_existing_database": True} if into_existing and scheme == "sqlite" else {}
    open_store(url, create=True, **options).close()
    console.print(f"{url}: {did}.")
