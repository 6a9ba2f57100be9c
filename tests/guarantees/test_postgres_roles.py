"""Security on PostgreSQL: the roles of docs/postgres.md, and what the application role cannot do.

Each test makes its own owner role (which migrates the schema and owns
append_events and append_event) and application roles, with the statements of the docs, and
drops them afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import histoire
from histoire import CommandHandler, NewEvent
from histoire.app.projections import ProjectionRunner
from histoire.examples import bank
from histoire.store.postgres import PostgresEventStore, migrate
from histoire.store.postgres.schema import apply_migrations, latest_version, parse_url
from histoire.store.protocol import Snapshot
from histoire.testing._contract.support import settled_log

from .roles import SIGNATURES, Roles, append_call, as_user, event, made_roles, owners

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres]


@pytest.fixture
def roles() -> Iterator[Roles]:
    """An owner role, its migrated schema; dropped at the end."""
    yield from made_roles()


# -- the application role can do its work -------------------------------------------------


def test_the_application_role_appends_reads_and_saves_snapshots(roles: Roles) -> None:
    """With the docs' grants, and no INSERT on events, the application uses the whole store."""
    app = roles.app_role()
    with roles.store(app) as store:
        first = store.append("item-1", [event(1), event(2)])
        assert [e.version for e in first.events] == [1, 2]
        assert store.append("item-1", [event(3)], 2).events[0].version == 3
        again = store.append("item-1", first_events(first), 0)
        assert again == first  # an idempotent replay, through the function too
        assert [e.version for e in store.read_stream("item-1")] == [1, 2, 3]
        assert [e.version for e in settled_log(store)] == [1, 2, 3]
        snapshot = Snapshot(stream_id="item-1", version=3, schema_version=1, data=b"{}")
        store.save_snapshot(snapshot)
        assert store.load_snapshot("item-1", schema_version=1) is not None
        assert store.integrity_problems() == []
    with roles.app_conn(app) as conn:
        privileges = conn.execute(
            "SELECT has_table_privilege(%s, 'INSERT'), has_table_privilege(%s, 'UPDATE')",
            (f"{roles.schema}.events", f"{roles.schema}.streams"),
        ).fetchone()
    assert privileges == (False, False)


def first_events(result: Any) -> list[NewEvent]:
    """The NewEvents that produced `result`'s recorded events (same ids, same content)."""
    return [
        NewEvent(
            event_id=e.event_id,
            type=e.type,
            schema_version=e.schema_version,
            data=bytes(e.data),
            metadata=dict(e.metadata),
            causation_id=e.causation_id,
            correlation_id=e.correlation_id,
        )
        for e in result.events
    ]


def test_the_application_role_runs_a_projection(roles: Roles) -> None:
    """Commands and a projection (its tables, its checkpoint) work as the application role."""
    app = roles.app_role()
    with roles.store(app) as store:
        accounts = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
        accounts.handle("account-1", bank.OpenAccount(owner="ada"))
        accounts.handle("account-1", bank.Deposit(amount_cents=250))
        report = ProjectionRunner(store, owners(), codec=accounts.codec).run()
        assert report.handled == 1  # one AccountOpened; the deposit is not its type


# -- what it cannot do ----------------------------------------------------------------------

FORBIDDEN = {
    "insert-forged-xid-and-position": (
        "INSERT INTO {s}.events (xid, position, version, event_id, schema_version, stream_id, "
        "category, type, data) OVERRIDING SYSTEM VALUE VALUES (1, 1, 9, gen_random_uuid(), 1, "
        "'item-1', 'item', 'shop.Sold', '\\x7b7d')"
    ),
    "insert-forged-version": (
        "INSERT INTO {s}.events (version, event_id, schema_version, stream_id, category, type, "
        "data) VALUES (2, gen_random_uuid(), 1, 'item-1', 'item', 'shop.Sold', '\\x7b7d')"
    ),
    "update-events": "UPDATE {s}.events SET type = 'shop.Refunded'",
    "delete-events": "DELETE FROM {s}.events",
    "truncate-events": "TRUNCATE {s}.events",
    "update-streams": "UPDATE {s}.streams SET version = 1",
    "insert-streams": (
        "INSERT INTO {s}.streams (stream_id, category, version, updated_at) "
        "VALUES ('item-9', 'item', 5, now())"
    ),
    "delete-streams": "DELETE FROM {s}.streams",
    "replace-append-function": (
        "CREATE OR REPLACE FUNCTION {s}.append_events(text, text, bigint, uuid[], text[], "
        "integer[], bytea[], jsonb[], uuid[], uuid[], OUT o_actual bigint, OUT o_positions "
        "bigint[], OUT o_xid bigint, OUT o_recorded_at timestamptz) LANGUAGE sql AS "
        "'SELECT 0::bigint, NULL::bigint[], 0::bigint, now()'"
    ),
    "replace-append-event-function": (
        "CREATE OR REPLACE FUNCTION {s}.append_event(text, text, bigint, uuid, text, integer, "
        "bytea, jsonb, uuid, uuid, OUT o_actual bigint, OUT o_position bigint, OUT o_xid "
        "bigint, OUT o_recorded_at timestamptz) LANGUAGE sql AS "
        "'SELECT 0::bigint, NULL::bigint, 0::bigint, now()'"
    ),
    "disable-trigger": "ALTER TABLE {s}.events DISABLE TRIGGER events_no_update",
}


@pytest.mark.parametrize("statement", list(FORBIDDEN), ids=list(FORBIDDEN))
def test_the_application_role_cannot_write_events_but_through_append_events(
    roles: Roles, statement: str
) -> None:
    """A forged INSERT (transaction id, position, version), UPDATE, DELETE or TRUNCATE of
    events, a write to streams, replacing the function or a trigger: permission denied,
    and the store is as it was."""
    app = roles.app_role()
    with roles.store(app) as store:
        store.append("item-1", [event()])
        before = settled_log(store)
        with roles.app_conn(app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(FORBIDDEN[statement].format(s=roles.schema).encode())
        assert settled_log(store) == before
        assert store.stream_version("item-1") == 1
        assert store.integrity_problems() == []


FUNCTIONS = list(SIGNATURES)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_role_without_execute_cannot_append(roles: Roles, function: str) -> None:
    """append_events and append_event are not PUBLIC: a role given only USAGE and SELECT
    cannot call them."""
    reader = roles.reader_role()
    with (
        roles.app_conn(reader) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=function),
    ):
        conn.execute(append_call(roles.schema, function), ("item-1", "item", uuid.uuid4()))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_hostile_search_path_does_not_reach_into_append_events(
    roles: Roles, function: str
) -> None:
    """The application role puts its own now() before pg_catalog in its search path and
    calls append_events (or append_event), which runs as the owner: the owner never runs
    the caller's code."""
    app = roles.app_role()
    trap = f"h_trap_{uuid.uuid4().hex[:10]}"
    with roles.app_conn(app) as conn:
        # The app may create objects in the store's schema (projections' tables): a trap
        # there that would run with the owner's rights if the function used our path.
        conn.execute(
            f"CREATE FUNCTION {roles.schema}.now() RETURNS timestamptz LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{trap} ran as %', current_user; END $$"
        )
        conn.execute(f"SET search_path = {roles.schema}, pg_catalog")
        with pytest.raises(psycopg.errors.RaiseException, match=trap):
            conn.execute("SELECT now()")  # the trap works for plain queries of this session
        call = append_call(roles.schema, function)
        row = conn.execute(call, ("item-1", "item", uuid.uuid4())).fetchone()
        assert row is not None and row[0] == 0 and row[1] is not None


@pytest.mark.parametrize(
    ("breakage", "says"),
    [
        ("ALTER FUNCTION {f} SECURITY INVOKER", "not SECURITY DEFINER"),
        ("ALTER FUNCTION {f} RESET search_path", "search_path=pg_catalog, pg_temp"),
        ("GRANT EXECUTE ON FUNCTION {f} TO PUBLIC", "may be called by PUBLIC"),
    ],
)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_verify_reports_an_append_function_that_lost_its_guard(
    roles: Roles, breakage: str, says: str, function: str
) -> None:
    """An append_events (or append_event) without SECURITY DEFINER, its search path (a later
    migration's CREATE OR REPLACE resets both) or open to PUBLIC: integrity_problems and
    verify say so."""
    with roles.owner_conn() as owner:
        signature = SIGNATURES[function]
        owner.execute(breakage.format(f=f"{roles.schema}.{function}({signature})").encode())
    with PostgresEventStore(as_user(roles.url, roles.owner), schema=roles.schema) as store:
        problems = store.integrity_problems()
        assert any(says in p and f"function {function} " in p for p in problems), problems
        report = histoire.verify(store)
        assert not report.ok


def test_every_migration_leaves_append_events_guarded(roles: Roles) -> None:
    """After the latest migration, append_events and append_event are SECURITY DEFINER,
    owned by the schema's owner, with their own search path, and not callable by PUBLIC: a
    later migration that replaces one and forgets to say so again fails here."""
    rows = roles.admin.execute(
        "SELECT p.proname, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner), "
        "has_function_privilege('public', p.oid, 'EXECUTE') "
        "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname LIKE 'append%%' ORDER BY p.proname",
        (roles.schema,),
    ).fetchall()
    guarded = (True, ["search_path=pg_catalog, pg_temp"], roles.owner, False)
    assert rows == [(name, *guarded) for name in sorted(FUNCTIONS)]


def test_migrations_replacing_append_events_restate_its_guard() -> None:
    """Each migration file after 0006 that (re)creates append_events or append_event also
    says SECURITY DEFINER and SET search_path, or ALTERs them back after."""
    folder = Path(histoire.__file__).parent / "store" / "postgres" / "migrations"
    for path in sorted(folder.glob("*.sql")):
        if int(path.name[:4]) <= 6:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\s+\{schema\}\.append_events?\b", text):
            assert "SECURITY DEFINER" in text, path.name
            assert "search_path = pg_catalog, pg_temp" in text, path.name


def test_an_upgrade_lets_the_roles_that_append_use_append_event(roles: Roles) -> None:
    """A store of schema version 6 whose application role may execute append_events only
    (the grants of then): upgraded to version 7 by its owner, the role appends one event
    (through append_event) and several (append_events), with no new GRANT."""
    schema = f"{roles.schema}_v6"
    owner_url = as_user(roles.url, roles.owner)
    with roles.owner_conn() as owner:
        assert apply_migrations(owner, parse_url(owner_url, schema), up_to=6) == 6
    app = roles.reader_role(schema)
    with roles.owner_conn() as owner:
        owner.execute(f"GRANT EXECUTE ON FUNCTION {schema}.append_events TO {app}")
    assert migrate(owner_url, schema=schema) == latest_version()
    with PostgresEventStore(as_user(roles.url, app), schema=schema, create=False) as store:
        assert store.append("item-1", [event()]).last_version == 1
        assert store.append("item-1", [event(2), event(3)]).last_version == 3
        assert store.integrity_problems() == []
