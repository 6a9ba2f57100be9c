"""Shopping carts: add items, remove them, check out; and what was removed, forever.

A cart that is checked out takes no more changes: adding or removing an item
then is refused, and so is checking out an empty cart or checking out twice.
Each refusal is an event, stored with its reason. Malformed commands (an empty
product id, a quantity or price below one) raise InvalidCommandError and store
nothing.

`removed_from_carts` is a view that a system storing only each cart's current
contents could never build: every product ever removed from any cart since the
system started, read from the global log.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from histoire.app.projections import Projection, ProjectionContext
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError
from histoire.core.messages import Command, Event

CATEGORY = "cart"

# -- commands ----------------------------------------------------------------


class AddItem(Command):
    product_id: str
    quantity: int = 1
    unit_price_cents: int = 0


class RemoveItem(Command):
    product_id: str


class CheckOut(Command):
    pass


CartCommand = AddItem | RemoveItem | CheckOut

# -- events ------------------------------------------------------------------


class ItemAdded(Event):
    type_name: ClassVar[str] = "cart.ItemAdded"
    product_id: str
    quantity: int
    unit_price_cents: int


class ItemRemoved(Event):
    type_name: ClassVar[str] = "cart.ItemRemoved"
    product_id: str
    quantity: int
    """How many were in the cart when the product was removed."""


class CartCheckedOut(Event):
    type_name: ClassVar[str] = "cart.CartCheckedOut"
    items: int
    total_cents: int


class ItemAdditionRefused(Event):
    type_name: ClassVar[str] = "cart.ItemAdditionRefused"
    product_id: str
    reason: str


class ItemRemovalRefused(Event):
    type_name: ClassVar[str] = "cart.ItemRemovalRefused"
    product_id: str
    reason: str


class CheckoutRefused(Event):
    type_name: ClassVar[str] = "cart.CheckoutRefused"
    reason: str


CartEvent = (
    ItemAdded
    | ItemRemoved
    | CartCheckedOut
    | ItemAdditionRefused
    | ItemRemovalRefused
    | CheckoutRefused
)
EVENTS: tuple[type[Event], ...] = (
    ItemAdded,
    ItemRemoved,
    CartCheckedOut,
    ItemAdditionRefused,
    ItemRemovalRefused,
    CheckoutRefused,
)

CHECKED_OUT = "the cart is checked out"
EMPTY = "the cart is empty"
NOT_IN_CART = "the product is not in the cart"

# -- state -------------------------------------------------------------------


class Line(msgspec.Struct, frozen=True):
    """One product in a cart."""

    quantity: int
    unit_price_cents: int


class Cart(msgspec.Struct, frozen=True):
    """What a cart holds now, folded from its events."""

    lines: dict[str, Line] = msgspec.field(default_factory=dict)
    checked_out: bool = False

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines.values())

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines.values())


def initial_state() -> Cart:
    return Cart()


# -- decisions ---------------------------------------------------------------


def decide(command: CartCommand, cart: Cart) -> list[CartEvent]:
    if isinstance(command, AddItem):
        _check_product(command.product_id)
        if command.quantity < 1:
            raise InvalidCommandError(f"a quantity must be at least 1, not {command.quantity}")
        if command.unit_price_cents < 0:
            raise InvalidCommandError(
                f"a price must not be negative, not {command.unit_price_cents} cents"
            )
        if cart.checked_out:
            return [ItemAdditionRefused(product_id=command.product_id, reason=CHECKED_OUT)]
        return [
            ItemAdded(
                product_id=command.product_id,
                quantity=command.quantity,
                unit_price_cents=command.unit_price_cents,
            )
        ]
    if isinstance(command, RemoveItem):
        _check_product(command.product_id)
        if cart.checked_out:
            return [ItemRemovalRefused(product_id=command.product_id, reason=CHECKED_OUT)]
        line = cart.lines.get(command.product_id)
        if line is None:
            return [ItemRemovalRefused(product_id=command.product_id, reason=NOT_IN_CART)]
        return [ItemRemoved(product_id=command.product_id, quantity=line.quantity)]
    if isinstance(command, CheckOut):
        if cart.checked_out:
            return [CheckoutRefused(reason=CHECKED_OUT)]
        if not cart.lines:
            return [CheckoutRefused(reason=EMPTY)]
        return [CartCheckedOut(items=cart.items, total_cents=cart.total_cents)]
    raise InvalidCommandError(f"unknown command {command!r}")


def _check_product(product_id: str) -> None:
    if not product_id.strip():
        raise InvalidCommandError("a product id must not be empty")


def evolve(cart: Cart, event: CartEvent) -> Cart:
    if isinstance(event, ItemAdded):
        lines = dict(cart.lines)
        known = lines.get(event.product_id)
        quantity = event.quantity + (known.quantity if known else 0)
        # The latest price wins: the cart shows what the shop asks now.
        lines[event.product_id] = Line(quantity=quantity, unit_price_cents=event.unit_price_cents)
        return msgspec.structs.replace(cart, lines=lines)
    if isinstance(event, ItemRemoved):
        lines = {k: v for k, v in cart.lines.items() if k != event.product_id}
        return msgspec.structs.replace(cart, lines=lines)
    if isinstance(event, CartCheckedOut):
        return msgspec.structs.replace(cart, checked_out=True)
    return cart  # refusals change nothing


def make_codec() -> Codec:
    """A codec for the events of cart streams."""
    return Codec(EventRegistry(EVENTS))


def make_decider() -> Decider[CartCommand, Cart, CartEvent]:
    """The shopping cart decider."""
    return Decider(
        name="cart",
        initial_state=initial_state,
        decide=decide,
        evolve=evolve,
        events=EVENTS,  # type: ignore[arg-type]
        state_type=Cart,
    )


# -- the view: what was removed from carts ------------------------------------


class RemovedProduct(msgspec.Struct, frozen=True, kw_only=True):
    """A product that was removed from carts: how often, how many, from which carts."""

    product_id: str
    removals: int
    quantity: int
    carts: tuple[str, ...]
    last_position: int


removed_products = Projection("removed_products", categories=[CATEGORY])
"""The seed's question as a live view: every product ever removed from a cart."""


@removed_products.on(ItemRemoved)
def _removed(event: ItemRemoved, ctx: ProjectionContext) -> None:
    products = ctx.documents("products")
    product = products.get(event.product_id) or {"removals": 0, "quantity": 0, "carts": []}
    product["removals"] += 1
    product["quantity"] += event.quantity
    if ctx.record.stream_id not in product["carts"]:
        product["carts"].append(ctx.record.stream_id)
    product["last_position"] = ctx.record.position
    products.put(event.product_id, product)


def removed_products_in(view: ProjectionContext) -> list[RemovedProduct]:
    """The `removed_products` read model as a list, most removed first."""
    products = [
        RemovedProduct(
            product_id=key,
            removals=doc["removals"],
            quantity=doc["quantity"],
            carts=tuple(doc["carts"]),
            last_position=doc["last_position"],
        )
        for key, doc in view.documents("products")
    ]
    return sorted(products, key=lambda p: (-p.removals, -p.quantity, p.product_id))
