"""Property: the state handle() returns is the state a fresh load() rebuilds, always.

Before events were read back, `handle()` folded the events as `decide` built
them while `load()` folds them as decoded from the store: a list given for a
tuple field or a str for an enum made the two differ. Commands here include
values of the wrong type: those are refused, and the property must still hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from histoire import CommandHandler, Decider, EventStore, InvalidInputError, open_store
from histoire.codec.upcasting import Upcasters
from histoire.examples import bank, cart, deletion

from ..domains import Port, Route, Stop, cargo


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventStore]:
    """One store per backend for the whole module: each example writes its own stream."""
    if request.param == "memory":
        url = "memory://"
    else:
        path: Path = tmp_path_factory.mktemp("handle") / "events.db"
        url = f"sqlite:///{path}?durability=fast"
    store = open_store(url)
    yield store
    store.close()


garbage = st.sampled_from([True, 1.5, "5", None, [1], float("nan")])
amounts = st.one_of(st.integers(min_value=-5, max_value=500), garbage)
bank_commands = st.one_of(
    st.builds(bank.OpenAccount, owner=st.sampled_from(["ada", "", 7]), currency=st.just("EUR")),
    st.builds(bank.Deposit, amount_cents=amounts),
    st.builds(bank.Withdraw, amount_cents=amounts),
    st.just(bank.CloseAccount()),
)
cart_commands = st.one_of(
    st.builds(
        cart.AddItem,
        product_id=st.sampled_from(["apple", "pear", " ", 3]),
        quantity=st.one_of(st.integers(min_value=0, max_value=4), garbage),
        unit_price_cents=st.one_of(st.integers(min_value=-1, max_value=900), garbage),
    ),
    st.builds(cart.RemoveItem, product_id=st.sampled_from(["apple", "pear", "kiwi"])),
    st.just(cart.CheckOut()),
)
deletion_commands = st.one_of(
    bank_commands, st.builds(deletion.DeleteAccount, reason=st.sampled_from(["", "moving"]))
)
cargo_commands = st.builds(
    Route,
    legs=st.one_of(st.tuples(st.sampled_from(["V1", "V2"])), st.just(["V1"]), garbage),
    port=st.one_of(st.sampled_from(Port), st.just("TOKYO"), garbage),
    quantity=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), garbage),
    weight_kg=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), garbage),
    stop=st.one_of(
        st.none(),
        st.builds(Stop, port=st.sampled_from(Port), days=st.integers(0, 9)),
        st.builds(Stop, port=st.just("TOKYO"), days=st.one_of(st.integers(0, 9), garbage)),
        st.just({"port": "TOKYO", "days": 1}),
    ),
)

Example = tuple[Callable[[int | None], Decider[Any, Any, Any]], Upcasters, Any]
EXAMPLES: dict[str, Example] = {
    "bank": (bank.make_decider, bank.make_upcasters(), bank_commands),
    "cart": (lambda every: cart.make_decider(), Upcasters(), cart_commands),
    "deletion": (
        lambda every: deletion.make_decider(),
        deletion.make_upcasters(),
        deletion_commands,
    ),
    "cargo": (lambda every: cargo, Upcasters(), cargo_commands),
}


@pytest.mark.parametrize("example", list(EXAMPLES))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), every=st.one_of(st.none(), st.integers(min_value=1, max_value=4)))
def test_the_state_handle_returns_equals_a_fresh_load(
    shared_store: EventStore, example: str, data: st.DataObject, every: int | None
) -> None:
    """After each command, handle()'s state and version equal a new handler's load()."""
    make_decider, upcasters, commands = EXAMPLES[example]
    handler = CommandHandler(shared_store, make_decider(every), upcasters=upcasters)
    stream_id = f"{example}-{uuid.uuid4().hex}"
    for command in data.draw(st.lists(commands, max_size=12), label="commands"):
        try:
            result = handler.handle(stream_id, command)
        except InvalidInputError:
            continue  # malformed: refused, nothing stored; the property must still hold
        for decider in (make_decider(every), make_decider(None)):
            fresh = CommandHandler(shared_store, decider, upcasters=upcasters).load(stream_id)
            assert (fresh.version, fresh.state) == (result.version, result.state)
    replay = CommandHandler(shared_store, make_decider(None), upcasters=upcasters)
    assert replay.load(stream_id).version == shared_store.stream_version(stream_id)
