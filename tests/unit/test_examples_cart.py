"""The shopping cart example, and the view of every product ever removed from a cart."""

from __future__ import annotations

import pytest

from histoire import CommandHandler, InvalidCommandError, open_store
from histoire.app.projections import ProjectionRunner
from histoire.app.projections.reading import read_model
from histoire.examples.bank import Deposit, OpenAccount
from histoire.examples.bank import make_decider as make_bank
from histoire.examples.cart import (
    CHECKED_OUT,
    EMPTY,
    NOT_IN_CART,
    AddItem,
    CartCheckedOut,
    CartEvent,
    CheckOut,
    CheckoutRefused,
    ItemAdded,
    ItemAdditionRefused,
    ItemRemovalRefused,
    ItemRemoved,
    Line,
    RemoveItem,
    make_decider,
    removed_products,
    removed_products_in,
)
from histoire.testing import given

cart = make_decider()
BOOK = ItemAdded(product_id="book", quantity=2, unit_price_cents=1500)
MUG = ItemAdded(product_id="mug", quantity=1, unit_price_cents=800)


def test_adding_an_item_puts_it_in_the_cart() -> None:
    """AddItem gives ItemAdded; the cart holds the line."""
    state = (
        given(cart).when(AddItem(product_id="book", quantity=2, unit_price_cents=1500)).then([BOOK])
    )
    assert state.lines == {"book": Line(quantity=2, unit_price_cents=1500)}
    assert (state.items, state.total_cents) == (2, 3000)


def test_adding_the_same_product_again_adds_to_its_quantity() -> None:
    """Two ItemAdded of one product make one line with both quantities."""
    state = (
        given(cart, [BOOK])
        .when(AddItem(product_id="book", unit_price_cents=1500))
        .then([ItemAdded(product_id="book", quantity=1, unit_price_cents=1500)])
    )
    assert state.lines["book"].quantity == 3


def test_removing_an_item_records_how_many_were_in_the_cart() -> None:
    """RemoveItem gives ItemRemoved with the quantity that was in the cart."""
    state = (
        given(cart, [BOOK, MUG])
        .when(RemoveItem(product_id="book"))
        .then([ItemRemoved(product_id="book", quantity=2)])
    )
    assert list(state.lines) == ["mug"]


def test_removing_a_product_that_is_not_in_the_cart_is_refused() -> None:
    """RemoveItem of an absent product gives ItemRemovalRefused."""
    given(cart, [MUG]).when(RemoveItem(product_id="book")).then(
        [ItemRemovalRefused(product_id="book", reason=NOT_IN_CART)]
    )


def test_checking_out_records_the_items_and_the_total() -> None:
    """CheckOut of a filled cart gives CartCheckedOut with items and total."""
    state = (
        given(cart, [BOOK, MUG]).when(CheckOut()).then([CartCheckedOut(items=3, total_cents=3800)])
    )
    assert state.checked_out


def test_checking_out_an_empty_cart_is_refused() -> None:
    """CheckOut of an empty cart (also emptied by removals) gives CheckoutRefused."""
    given(cart).when(CheckOut()).then([CheckoutRefused(reason=EMPTY)])
    emptied: list[CartEvent] = [MUG, ItemRemoved(product_id="mug", quantity=1)]
    given(cart, emptied).when(CheckOut()).then([CheckoutRefused(reason=EMPTY)])


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (AddItem(product_id="tea"), ItemAdditionRefused(product_id="tea", reason=CHECKED_OUT)),
        (RemoveItem(product_id="mug"), ItemRemovalRefused(product_id="mug", reason=CHECKED_OUT)),
        (CheckOut(), CheckoutRefused(reason=CHECKED_OUT)),
    ],
)
def test_a_checked_out_cart_refuses_every_change(
    command: AddItem | RemoveItem | CheckOut,
    refusal: ItemAdditionRefused | ItemRemovalRefused | CheckoutRefused,
) -> None:
    """After CartCheckedOut, adding, removing and checking out again are refused."""
    history: list[CartEvent] = [MUG, CartCheckedOut(items=1, total_cents=800)]
    state = given(cart, history).when(command).then([refusal])
    assert state.lines == {"mug": Line(quantity=1, unit_price_cents=800)}


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (AddItem(product_id=""), "must not be empty"),
        (AddItem(product_id="tea", quantity=0), "at least 1"),
        (AddItem(product_id="tea", unit_price_cents=-1), "must not be negative"),
        (RemoveItem(product_id=" "), "must not be empty"),
    ],
)
def test_malformed_cart_commands_raise(command: AddItem | RemoveItem, message: str) -> None:
    """Malformed cart commands raise InvalidCommandError and decide nothing."""
    given(cart).when(command).then_raises(InvalidCommandError, message)


def test_the_removal_view_remembers_every_product_ever_removed() -> None:
    """The removed_products projection counts removals, even from checked-out carts."""
    store = open_store("memory://")
    carts = CommandHandler(store, cart)
    accounts = CommandHandler(store, make_bank())
    accounts.handle("account-1", OpenAccount(owner="ada"))
    for cart_id, product in [("cart-1", "mug"), ("cart-2", "mug"), ("cart-2", "tea")]:
        carts.handle(cart_id, AddItem(product_id=product, quantity=2, unit_price_cents=100))
        accounts.handle("account-1", Deposit(amount_cents=1))
        carts.handle(cart_id, RemoveItem(product_id=product))
    carts.handle("cart-1", AddItem(product_id="book"))
    carts.handle("cart-1", CheckOut())
    carts.handle("cart-1", RemoveItem(product_id="book"))  # refused: not a removal

    ProjectionRunner(store, removed_products, codec=carts.codec).run()
    with read_model(store, removed_products) as model:
        view = removed_products_in(model)

    assert [(p.product_id, p.removals, p.quantity, p.carts) for p in view] == [
        ("mug", 2, 4, ("cart-1", "cart-2")),
        ("tea", 1, 2, ("cart-2",)),
    ]
    assert carts.load("cart-2").state.lines == {}
