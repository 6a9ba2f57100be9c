"""The application definition: one object with the deciders, types, upcasters and store URL."""

from __future__ import annotations

from typing import ClassVar

import pytest

from histoire import Application, Decider, Event, InvalidInputError, MemoryEventStore
from histoire.examples import bank, cart


class Noted(Event):
    type_name: ClassVar[str] = "bank.Deposited"  # the name of a bank event, on another class


def test_codec_knows_every_deciders_events_and_the_extra_ones() -> None:
    """The codec of an application decodes the events of all its deciders and `events`."""

    class Audited(Event):
        type_name: ClassVar[str] = "audit.Audited"

    app = Application(
        name="shop",
        deciders=[bank.make_decider(), cart.make_decider()],
        events=[Audited],
        upcasters=bank.make_upcasters(),
    )
    names = {t.type_name for t in app.codec().registry}
    assert {t.type_name for t in (*bank.EVENTS, *cart.EVENTS)} <= names
    assert "audit.Audited" in names
    assert app.codec().upcasters is app.upcasters


def test_two_classes_under_one_type_name_are_refused_at_definition() -> None:
    """Two classes under one type name are reported when the application is built."""
    with pytest.raises(InvalidInputError, match=r"bank\.Deposited"):
        Application(name="bad", deciders=[bank.make_decider()], events=[Noted])


def test_two_deciders_with_one_name_are_refused() -> None:
    """Deciders key their snapshots by name: two with one name are refused."""
    with pytest.raises(InvalidInputError, match="two deciders are named 'bank'"):
        Application(name="bad", deciders=[bank.make_decider(), bank.make_decider()])


def test_a_non_decider_is_refused() -> None:
    """Something that is not a Decider in `deciders` is named in the error."""
    with pytest.raises(InvalidInputError, match="Decider objects, not function"):
        Application(name="bad", deciders=[bank.make_decider])  # type: ignore[list-item]


def test_handler_by_name_handles_commands_with_the_apps_upcasters() -> None:
    """`handler(name, store)` handles commands for the decider of that name."""
    decider: Decider[bank.BankCommand, bank.Account, bank.BankEvent] = bank.make_decider()
    app = Application(name="bank", deciders=[decider], upcasters=bank.make_upcasters())
    store = MemoryEventStore()
    handler = app.handler("bank", store)
    handler.handle("account-1", bank.OpenAccount(owner="Ada"))
    assert handler.load("account-1").version == 1
    assert handler.codec.upcasters is app.upcasters
    with pytest.raises(InvalidInputError, match="no decider 'cart'"):
        app.handler("cart", store)


def test_open_store_uses_the_apps_url_unless_given_one() -> None:
    """`open_store()` opens the application's store URL; a given URL wins."""
    app = Application(name="bank", store_url="memory://")
    assert isinstance(app.open_store(), MemoryEventStore)
    with pytest.raises(InvalidInputError, match="no store_url"):
        Application(name="bare").open_store()
