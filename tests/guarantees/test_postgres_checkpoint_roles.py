"""Security on PostgreSQL: with row-level security on, a role cannot change the projection
checkpoints of another role (docs/postgres.md, "One role per follower")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from histoire import CommandHandler
from histoire.app.projections import ProjectionRunner
from histoire.examples import bank

from .roles import Roles, docs_sql, made_roles, owners

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres]


@pytest.fixture
def roles() -> Iterator[Roles]:
    """An owner role, its migrated schema; dropped at the end."""
    yield from made_roles()


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
