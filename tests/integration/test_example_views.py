"""The examples' views as projections: the seed's e-commerce question and the bank's audit trail."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from typing import Any

from histoire import (
    Codec,
    CommandHandler,
    EventRegistry,
    EventStore,
    ProjectionRunner,
    read_model,
    wait_for_projection,
)
from histoire.examples import bank, cart
from histoire.examples.bank_views import audit_trail

CODEC = Codec(EventRegistry((*bank.EVENTS, *cart.EVENTS)), bank.make_upcasters())


def large_cart_history(store: EventStore, carts: int, seed: int = 3) -> Counter[str]:
    """Carts that add and remove products for a while; the removals by product."""
    rng = random.Random(seed)
    codec = cart.make_codec()
    removed: Counter[str] = Counter()
    for n in range(carts):
        events: list[Any] = []
        inside: list[str] = []
        for _ in range(rng.randint(5, 15)):
            if inside and rng.random() < 0.4:
                product = inside.pop(rng.randrange(len(inside)))
                events.append(cart.ItemRemoved(product_id=product, quantity=1))
                removed[product] += 1
            else:
                product = f"sku-{rng.randint(1, 300)}"
                if product not in inside:
                    inside.append(product)
                    events.append(
                        cart.ItemAdded(product_id=product, quantity=1, unit_price_cents=100)
                    )
        store.append(f"cart-{n}", [codec.encode(e, event_id=uuid.uuid4()) for e in events])
    return removed


def test_every_product_ever_removed_from_a_cart_built_from_a_large_history_then_live(
    store: EventStore,
) -> None:
    """The view answers for the whole past at once, then keeps up with new removals."""
    removed = large_cart_history(store, carts=1500)
    report = ProjectionRunner(store, cart.removed_products, codec=CODEC).run()
    assert report.failure is None and report.handled == sum(removed.values())
    with read_model(store, cart.removed_products) as view:
        assert {p.product_id: p.removals for p in cart.removed_products_in(view)} == removed
    stop = threading.Event()
    runner = ProjectionRunner(store, cart.removed_products, codec=CODEC)
    thread = threading.Thread(target=runner.run, kwargs={"live": True, "stop": stop})
    thread.start()
    try:
        handler = CommandHandler(store, cart.make_decider())
        handler.handle("cart-new", cart.AddItem(product_id="sku-999"))
        result = handler.handle("cart-new", cart.RemoveItem(product_id="sku-999"))
        assert wait_for_projection(store, "removed_products", result.events[-1].checkpoint)
    finally:
        stop.set()
        thread.join()
    with read_model(store, cart.removed_products) as view:
        products = {p.product_id: p for p in cart.removed_products_in(view)}
    assert products["sku-999"].removals == 1
    assert products["sku-999"].carts == ("cart-new",)


def test_the_audit_trail_shows_who_when_from_where_and_why(store: EventStore) -> None:
    """Every movement of an account with its author, origin, time and causes."""
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    who = {"user": "ada", "ip": "203.0.113.7"}
    opened = handler.handle("account-ada", bank.OpenAccount(owner="Ada"), metadata=who)
    cause = uuid.uuid4()
    deposit = handler.handle(
        "account-ada",
        bank.Deposit(amount_cents=500),
        metadata={"user": "teller-12", "channel": "branch Lyon"},
        causation_id=cause,
    )
    refused = handler.handle("account-ada", bank.Withdraw(amount_cents=900), metadata=who)
    ProjectionRunner(store, audit_trail, codec=CODEC).run()
    with read_model(store, audit_trail) as view:
        rows = view.execute(
            "SELECT version, kind, amount_cents, who, origin, recorded_at, event_id, "
            f"causation_id, correlation_id FROM {view.table('movements')} ORDER BY version"
        )
    assert [tuple(r[:5]) for r in rows] == [
        (1, "AccountOpened", None, "ada", "203.0.113.7"),
        (2, "Deposited", 500, "teller-12", "branch Lyon"),
        (3, "WithdrawalRefused", 900, "ada", "203.0.113.7"),
    ]
    records = [*opened.events, *deposit.events, *refused.events]
    assert [r[5] for r in rows] == [e.recorded_at.isoformat() for e in records]
    assert [r[6] for r in rows] == [str(e.event_id) for e in records]
    assert rows[1][7] == str(cause) and rows[1][8] == str(cause)
