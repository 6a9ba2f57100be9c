"""Property: a view kept live, event by event, equals the same view rebuilt in one batch.

For random bank and cart histories, each projection of the examples is run
after every command (as a live follower would see the log grow), then rebuilt
from the start into a new generation; the two read models are equal.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histoire import (
    Codec,
    CommandHandler,
    EventRegistry,
    EventStore,
    InvalidCommandError,
    Projection,
    ProjectionRunner,
    open_store,
    read_model,
)
from histoire.examples import bank, cart
from histoire.examples.bank_views import audit_trail, balances

from .._services import fresh_postgres_schema, postgres_url_or_skip

accounts = st.sampled_from(["account-1", "account-2", "account-3"])
carts = st.sampled_from(["cart-1", "cart-2"])
products = st.sampled_from(["mug", "tea", "book"])
amounts = st.integers(min_value=1, max_value=900)
steps = st.one_of(
    st.tuples(accounts, st.builds(bank.OpenAccount, owner=st.sampled_from(["ada", "bob"]))),
    st.tuples(accounts, st.builds(bank.Deposit, amount_cents=amounts)),
    st.tuples(accounts, st.builds(bank.Withdraw, amount_cents=amounts)),
    st.tuples(accounts, st.just(bank.CloseAccount())),
    st.tuples(carts, st.builds(cart.AddItem, product_id=products, quantity=st.integers(1, 3))),
    st.tuples(carts, st.builds(cart.RemoveItem, product_id=products)),
    st.tuples(carts, st.just(cart.CheckOut())),
)

codec = Codec(EventRegistry((*bank.EVENTS, *cart.EVENTS)), bank.make_upcasters())
PROJECTIONS = (balances, audit_trail, cart.removed_products)


def contents(store: EventStore, projection: Projection) -> list[Any]:
    with read_model(store, projection) as view:
        if projection is audit_trail:
            rows = view.execute(
                f"SELECT account, version, kind, amount_cents, who, event_id "
                f"FROM {view.table('movements')} ORDER BY account, version"
            )
            return [tuple(r) for r in rows]
        name = "products" if projection is cart.removed_products else "accounts"
        return list(view.documents(name))


def check(make_store: Callable[[], EventStore], history: list[tuple[str, Any]]) -> None:
    store = make_store()
    try:
        bank_handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
        cart_handler = CommandHandler(store, cart.make_decider())
        runners = [ProjectionRunner(store, p, codec=codec, batch_size=3) for p in PROJECTIONS]
        for runner in runners:
            runner.run()
        for stream_id, command in history:
            handler = bank_handler if stream_id.startswith("account") else cart_handler
            with contextlib.suppress(InvalidCommandError):
                handler.handle(stream_id, command, metadata={"user": "u", "ip": "192.0.2.1"})
            for runner in runners:
                assert runner.run().failure is None
        live = [contents(store, p) for p in PROJECTIONS]
        for runner in runners:
            report = runner.run(rebuild=True)
            assert report.failure is None and report.swapped
        assert [contents(store, p) for p in PROJECTIONS] == live
    finally:
        store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(steps, max_size=30))
def test_live_and_rebuilt_views_are_equal_in_memory(history: list[tuple[str, Any]]) -> None:
    """Memory store (read models in SQLite in memory)."""
    check(lambda: open_store("memory://"), history)


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=st.lists(steps, max_size=30))
def test_live_and_rebuilt_views_are_equal_on_sqlite(
    tmp_path: Path, history: list[tuple[str, Any]]
) -> None:
    """SQLite file."""
    check(lambda: open_store(f"sqlite:///{tmp_path / f'{uuid.uuid4()}.db'}"), history)


@pytest.mark.slow
@pytest.mark.postgres
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=st.lists(steps, max_size=20))
def test_live_and_rebuilt_views_are_equal_on_postgres(history: list[tuple[str, Any]]) -> None:
    """PostgreSQL schema (a fresh one per example)."""
    url = postgres_url_or_skip()
    check(lambda: open_store(url, schema=fresh_postgres_schema(url)), history)
