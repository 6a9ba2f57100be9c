"""Roles for the PostgreSQL security suites: an owner that migrated a schema, application
roles made with the statements of docs/postgres.md, and a projection to run as them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from histoire import NewEvent
from histoire.app.projections import Projection, ProjectionContext
from histoire.examples import bank
from histoire.store.postgres import PostgresEventStore, migrate

from .._services import postgres_url_or_skip

DOCS = Path(__file__).resolve().parents[2] / "docs" / "postgres.md"
SIGNATURE = "text, text, bigint, uuid[], text[], integer[], bytea[], jsonb[], uuid[], uuid[]"
ONE_SIGNATURE = "text, text, bigint, uuid, text, integer, bytea, jsonb, uuid, uuid"
"""append_event's (schema version 7): one event, one value per column."""
SIGNATURES = {"append_events": SIGNATURE, "append_event": ONE_SIGNATURE}


def docs_sql(marker: str) -> str:
    """The ```sql block of docs/postgres.md whose first line holds `marker`."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (found,) = [b for b in blocks if marker in b.splitlines()[0]]
    return str(found)


def as_user(url: str, user: str) -> str:
    """`url` logging in as `user` (the test server trusts loopback logins)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:pw@{host}"))


def event(n: int = 1) -> NewEvent:
    """A shop.Sold event."""
    return NewEvent(
        event_id=uuid.uuid4(), type="shop.Sold", schema_version=1, data=b'{"n": %d}' % n
    )


class Roles:
    """An owner role that migrated `schema`, and application roles made with the docs' GRANTs."""

    def __init__(self, url: str, admin: psycopg.Connection[Any]) -> None:
        self.url = url
        self.admin = admin
        tag = uuid.uuid4().hex[:10]
        self.schema = f"g_{tag}"
        self.owner = f"h_own_{tag}"
        self.created: list[str] = []
        database = admin.execute("SELECT current_database()").fetchone()
        assert database is not None
        script = (
            docs_sql("The schema's owner")
            .replace("histoire_owner", self.owner)
            .replace("DATABASE shop", f'DATABASE "{database[0]}"')
        )
        self._run(admin, script)
        self.created.append(self.owner)
        assert migrate(as_user(url, self.owner), schema=self.schema) >= 6

    @staticmethod
    def _run(conn: psycopg.Connection[Any], script: str) -> None:
        """Run each statement of `script` (comment lines dropped)."""
        code = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
        for statement in code.split(";"):
            if statement.strip():
                conn.execute(statement.encode())

    def owner_conn(self) -> psycopg.Connection[Any]:
        """A connection as the schema's owner."""
        return psycopg.connect(as_user(self.url, self.owner), autocommit=True)

    def app_role(self) -> str:
        """A new application role with the docs' grants (created by the admin, granted by
        the owner)."""
        role = f"h_app_{uuid.uuid4().hex[:10]}"
        script = docs_sql("The application's role").replace("histoire_app", role)
        script = script.replace("SCHEMA histoire ", f"SCHEMA {self.schema} ").replace(
            "histoire.", f"{self.schema}."
        )
        create, _, grants = script.partition("\n")[2].partition(";")
        self._run(self.admin, create.replace("'change me'", "'pw'"))
        self.created.append(role)
        with self.owner_conn() as owner:
            self._run(owner, grants)
        return role

    def reader_role(self, schema: str | None = None) -> str:
        """A new role that may read `schema` (the store's by default) and nothing more."""
        role = f"h_read_{uuid.uuid4().hex[:10]}"
        self.admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        self.created.append(role)
        with self.owner_conn() as owner:
            owner.execute(f"GRANT USAGE ON SCHEMA {schema or self.schema} TO {role}")
            owner.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema or self.schema} TO {role}")
        return role

    def app_conn(self, role: str) -> psycopg.Connection[Any]:
        """A raw connection as `role`."""
        return psycopg.connect(as_user(self.url, role), autocommit=True)

    def store(self, role: str) -> PostgresEventStore:
        """The store opened as `role` (nothing to create)."""
        return PostgresEventStore(as_user(self.url, role), schema=self.schema, create=False)

    def drop(self) -> None:
        """Drop what the roles own (the schema too) and the roles."""
        for role in reversed(self.created):
            self.admin.execute(f'DROP OWNED BY "{role}" CASCADE')
            self.admin.execute(f'DROP ROLE "{role}"')


def made_roles() -> Iterator[Roles]:
    """An owner role and its migrated schema, dropped at the end (a fixture's body)."""
    url = postgres_url_or_skip()
    with psycopg.connect(url, autocommit=True) as admin:
        allowed = admin.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not allowed or not allowed[0]:
            pytest.skip("the test role may not create roles")
        made = Roles(url, admin)
        try:
            yield made
        finally:
            made.drop()


def append_call(schema: str, function: str = "append_events") -> str:
    """A statement the store sends to append one event, through `function`; it returns
    (the version before, the new position(s))."""
    if function == "append_event":
        return (
            f"SELECT o_actual, o_position FROM {schema}.append_event(%s, %s, -1, %s::uuid, "
            "'shop.Sold', 1, '{}'::bytea, '{}'::jsonb, NULL, NULL)"
        )
    return (
        f"SELECT o_actual, o_positions FROM {schema}.append_events(%s, %s, -1, "
        "ARRAY[%s]::uuid[], ARRAY['shop.Sold'], ARRAY[1], ARRAY['{}'::bytea], "
        "ARRAY['{}'::jsonb], ARRAY[NULL]::uuid[], ARRAY[NULL]::uuid[])"
    )


def owners(name: str = "owners") -> Projection:
    """Each account's owner, as documents."""
    projection = Projection(name)

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        ctx.documents("accounts").put(ctx.record.stream_id, {"owner": event.owner})

    return projection
