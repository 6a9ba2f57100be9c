"""Security on PostgreSQL: the roles of docs/postgres.md, and what the application role cannot do.

Each test makes its own owner role (which migrates the schema and owns
append_events) and application roles, with the statements of the docs, and
drops them afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import histoire
from histoire import CommandHandler, NewEvent
from histoire.app.projections import Projection, ProjectionContext, ProjectionRunner
from histoire.examples import bank
from histoire.store.postgres import PostgresEventStore, migrate
from histoire.store.protocol import Snapshot
from histoire.testing._contract.support import settled_log

from .._services import postgres_url_or_skip

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "postgres.md"
SIGNATURE = "text, text, bigint, uuid[], text[], integer[], bytea[], jsonb[], uuid[], uuid[]"


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


@pytest.fixture
def roles() -> Iterator[Roles]:
    """An owner role, its migrated schema; dropped at the end."""
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


def append_call(schema: str) -> str:
    """The statement the store sends to append one event to `stream`."""
    return (
        f"SELECT o_actual, o_positions FROM {schema}.append_events(%s, %s, -1, "
        "ARRAY[%s]::uuid[], ARRAY['shop.Sold'], ARRAY[1], ARRAY['{}'::bytea], "
        "ARRAY['{}'::jsonb], ARRAY[NULL]::uuid[], ARRAY[NULL]::uuid[])"
    )


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


def owners(name: str = "owners") -> Projection:
    """Each account's owner, as documents."""
    projection = Projection(name)

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        ctx.documents("accounts").put(ctx.record.stream_id, {"owner": event.owner})

    return projection


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


def test_a_role_without_execute_cannot_append(roles: Roles) -> None:
    """append_events is not PUBLIC: a role given only USAGE and SELECT cannot call it."""
    reader = f"h_read_{uuid.uuid4().hex[:10]}"
    roles.admin.execute(f"CREATE ROLE {reader} LOGIN")
    roles.created.append(reader)
    with roles.owner_conn() as owner:
        owner.execute(f"GRANT USAGE ON SCHEMA {roles.schema} TO {reader}")
        owner.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {roles.schema} TO {reader}")
    with (
        roles.app_conn(reader) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append_events"),
    ):
        conn.execute(append_call(roles.schema), ("item-1", "item", uuid.uuid4()))


def test_a_hostile_search_path_does_not_reach_into_append_events(roles: Roles) -> None:
    """The application role puts its own now() before pg_catalog in its search path and
    calls append_events, which runs as the owner: the owner never runs the caller's code."""
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
        row = conn.execute(append_call(roles.schema), ("item-1", "item", uuid.uuid4())).fetchone()
        assert row is not None and row[0] == 0 and len(row[1]) == 1


@pytest.mark.parametrize(
    ("breakage", "says"),
    [
        ("ALTER FUNCTION {f} SECURITY INVOKER", "not SECURITY DEFINER"),
        ("ALTER FUNCTION {f} RESET search_path", "search_path=pg_catalog, pg_temp"),
        ("GRANT EXECUTE ON FUNCTION {f} TO PUBLIC", "may be called by PUBLIC"),
    ],
)
def test_verify_reports_an_append_function_that_lost_its_guard(
    roles: Roles, breakage: str, says: str
) -> None:
    """An append_events without SECURITY DEFINER, its search path (a later migration's
    CREATE OR REPLACE resets both) or open to PUBLIC: integrity_problems and verify say so."""
    with roles.owner_conn() as owner:
        owner.execute(breakage.format(f=f"{roles.schema}.append_events({SIGNATURE})").encode())
    with PostgresEventStore(as_user(roles.url, roles.owner), schema=roles.schema) as store:
        assert any(says in p for p in store.integrity_problems()), store.integrity_problems()
        report = histoire.verify(store)
        assert not report.ok


def test_every_migration_leaves_append_events_guarded(roles: Roles) -> None:
    """After the latest migration, append_events is SECURITY DEFINER, owned by the schema's
    owner, with its own search path, and not callable by PUBLIC: a later migration that
    replaces the function and forgets to say so again fails here."""
    row = roles.admin.execute(
        "SELECT p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner), "
        "has_function_privilege('public', p.oid, 'EXECUTE') "
        "FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = 'append_events'",
        (roles.schema,),
    ).fetchall()
    assert row == [(True, ["search_path=pg_catalog, pg_temp"], roles.owner, False)]


def test_migrations_replacing_append_events_restate_its_guard() -> None:
    """Each migration file after 0006 that (re)creates append_events also says SECURITY
    DEFINER and SET search_path, or ALTERs them back after."""
    folder = Path(histoire.__file__).parent / "store" / "postgres" / "migrations"
    for path in sorted(folder.glob("*.sql")):
        if int(path.name[:4]) <= 6:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\s+\{schema\}\.append_events", text):
            assert "SECURITY DEFINER" in text, path.name
            assert "search_path = pg_catalog, pg_temp" in text, path.name


# -- checkpoints of other roles ----------------------------------------------------------------


FOLLOWER = "projection:owners:g1"  # the follower name of projection `owners`, generation 1


@pytest.fixture
def two_workers(roles: Roles) -> Callable[[], tuple[str, str]]:
    """Two application roles, with row-level security on the checkpoints turned on."""

    def make() -> tuple[str, str]:
        first, second = roles.app_role(), roles.app_role()
        statement = docs_sql("each role changes only its own").replace(
            "histoire.", f"{roles.schema}."
        )
        with roles.owner_conn() as owner:
            Roles._run(owner, statement)
        return first, second

    return make


def test_a_role_cannot_move_the_checkpoint_of_another_roles_projection(
    roles: Roles, two_workers: Callable[[], tuple[str, str]]
) -> None:
    """With row-level security on, a projection run by role A records its checkpoint; role B
    reads it but cannot change or delete it, neither by SQL nor by running the projection."""
    role_a, role_b = two_workers()
    with roles.store(role_a) as store:
        accounts = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
        accounts.handle("account-1", bank.OpenAccount(owner="ada"))
        assert ProjectionRunner(store, owners(), codec=accounts.codec).run().handled == 1
    table = f"{roles.schema}.histoire_followers"
    with roles.app_conn(role_b) as conn:
        before = conn.execute(f"SELECT name, position, owner_role FROM {table}").fetchall()
        assert [(r[0], r[2]) for r in before] == [(FOLLOWER, role_a)]
        for statement in (
            f"UPDATE {table} SET position = 0, commit_id = 0",
            f"DELETE FROM {table}",
        ):
            assert conn.execute(statement).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                f"INSERT INTO {table} (name, member, members, commit_id, position, handled, "
                "updated_at, owner_role) VALUES (%s, 0, 1, 0, 0, 0, 0, %s)",
                (FOLLOWER, role_a),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                f"INSERT INTO {table} (name, member, members, commit_id, position, handled, "
                "updated_at) VALUES (%s, 0, 1, 0, 0, 0, 0) ON CONFLICT (name, member, "
                "members) DO UPDATE SET position = 0",
                (FOLLOWER,),
            )
        assert conn.execute(f"SELECT name, position, owner_role FROM {table}").fetchall() == before
    with roles.store(role_b) as store:
        accounts = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
        accounts.handle("account-2", bank.OpenAccount(owner="bob"))
        # A's tables refuse B's rows; the failure B records lands on no row of A's.
        report = ProjectionRunner(store, owners(), codec=accounts.codec).run()
        assert report.failure is not None and "permission denied" in str(report.failure)
        # Its own projection, it runs.
        assert ProjectionRunner(store, owners("b_owners"), codec=accounts.codec).run().handled == 2
    with roles.app_conn(role_b) as conn:
        after = conn.execute(
            f"SELECT name, position, owner_role, failed_event_id FROM {table} ORDER BY name"
        ).fetchall()
    assert after[1:] == [(*before[0], None)]
    assert after[0][0] == "projection:b_owners:g1" and after[0][2] == role_b
