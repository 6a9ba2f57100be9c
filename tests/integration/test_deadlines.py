"""Deadlines: "cancel the order if unpaid after a while", stored, fired once, cancellable."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from histoire import Application, Command, Decider, Event, EventStore
from histoire.app.reactions import Reaction, ReactionContext, ReactionRunner
from histoire.app.reactions.deadlines import DeadlineReached, DeadlineScheduler


class PlaceOrder(Command):
    pass


class Pay(Command):
    pass


class CancelUnpaid(Command):
    pass


class OrderPlaced(Event):
    type_name: ClassVar[str] = "orders.OrderPlaced"


class OrderPaid(Event):
    type_name: ClassVar[str] = "orders.OrderPaid"


class OrderCancelled(Event):
    type_name: ClassVar[str] = "orders.OrderCancelled"


def decide(command: Any, state: str) -> list[Event]:
    if isinstance(command, PlaceOrder):
        return [OrderPlaced()]
    if isinstance(command, Pay) and state == "placed":
        return [OrderPaid()]
    if isinstance(command, CancelUnpaid) and state == "placed":
        return [OrderCancelled()]
    return []


orders = Decider(
    name="orders",
    initial_state=lambda: "new",
    decide=decide,
    evolve=lambda state, event: {OrderPlaced: "placed", OrderPaid: "paid"}.get(
        type(event), "cancelled"
    ),
    events=[OrderPlaced, OrderPaid, OrderCancelled],
)

payments = Reaction("payments")


DUE_AFTER = 1.5  # seconds: long enough that a loaded machine checks "not due yet" in time


@payments.on(OrderPlaced)
def placed(event: OrderPlaced, ctx: ReactionContext) -> None:
    order = ctx.record.stream_id
    ctx.schedule(f"pay/{order}", after=DUE_AFTER, payload={"order": order})


@payments.on(OrderPaid)
def paid(event: OrderPaid, ctx: ReactionContext) -> None:
    ctx.cancel(f"pay/{ctx.record.stream_id}")


@payments.on(DeadlineReached)
def too_late(event: DeadlineReached, ctx: ReactionContext) -> None:
    if event.owner == "payments":
        ctx.issue("orders", event.payload["order"], CancelUnpaid())


def types(store: EventStore, stream_id: str) -> list[str]:
    return [e.type for e in store.read_stream(stream_id)]


def test_an_unpaid_order_is_cancelled_once_its_deadline_comes_even_after_a_restart(
    store: EventStore,
) -> None:
    """The schedule is an event; a new scheduler fires it once; a paid order's is cancelled."""
    app = Application(name="shop", deciders=[orders], reactions=[payments])
    handler = app.handler("orders", store)
    handler.handle("order-1", PlaceOrder())
    handler.handle("order-2", PlaceOrder())
    handler.handle("order-2", Pay())
    reactions = ReactionRunner(store, payments, app=app)
    reactions.run()
    assert DeadlineScheduler(store).run().fired == 0  # not due yet
    time.sleep(DUE_AFTER + 0.05)
    scheduler = DeadlineScheduler(store)  # a new process: it finds the schedule in the log
    assert scheduler.run().fired == 1
    reactions.run()
    assert types(store, "order-1") == ["orders.OrderPlaced", "orders.OrderCancelled"]
    assert types(store, "order-2") == ["orders.OrderPlaced", "orders.OrderPaid"]
    assert DeadlineScheduler(store).run().fired == 0, "a deadline fires once"
    reached = list(store.read_log(types=["histoire.DeadlineReached"]))
    assert len(reached) == 1
    cancelled = list(store.read_log(types=["histoire.DeadlineCancelled"]))
    assert len(cancelled) == 1
