"""Bad input, property-based: a value of the wrong type for every argument of the public API.

For each argument of the store's and the command handler's public methods,
hypothesis draws values that argument must refuse. Each is refused at once
with a HistoireError (or a TypeError or ValueError naming the argument),
nothing is written, and the store keeps working. On memory, SQLite and
PostgreSQL.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histoire import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    CommandHandler,
    EventStore,
    Snapshot,
)
from histoire.examples import bank, cart
from histoire.testing._contract.support import new_event

from .strategies import examples, refusal_names, shown, stored_count, wrong_types

pytestmark = pytest.mark.guarantees

Call = Callable[[EventStore, CommandHandler[Any, Any, Any], Any], object]

not_str = wrong_types.filter(lambda v: not isinstance(v, str))
not_int = st.one_of(
    wrong_types.filter(lambda v: type(v) is not int and v is not None),
    st.integers(max_value=-1),
    st.integers(min_value=2**63),
)
not_positive_int = st.one_of(not_int, st.just(0))
# A limit or a version past the end is no error (all there is; the last state).
not_count = st.one_of(
    wrong_types.filter(lambda v: type(v) is not int and v is not None),
    st.integers(max_value=-1),
)
not_uuid = wrong_types.filter(lambda v: not isinstance(v, uuid.UUID) and v is not None)
not_names = st.one_of(
    wrong_types.filter(lambda v: v is not None and not isinstance(v, list | dict)),
    st.lists(not_str, min_size=1, max_size=2),
)
not_checkpoint = st.one_of(
    wrong_types.filter(lambda v: not isinstance(v, tuple)),
    st.tuples(not_int, st.integers(min_value=0, max_value=9)),
    st.tuples(st.integers(min_value=0, max_value=9), not_int),
    st.tuples(st.integers(min_value=0, max_value=9)),
)
not_mapping = wrong_types.filter(lambda v: v is not None and not isinstance(v, dict))
not_timeout = st.one_of(
    wrong_types.filter(lambda v: v is not None and type(v) not in (int, float)),
    st.just(math.nan),
)
not_events = st.one_of(
    wrong_types.filter(lambda v: not isinstance(v, list) or v),
    st.text(min_size=1, max_size=3),
    st.lists(wrong_types, min_size=1, max_size=2),
    st.builds(lambda: new_event()),  # one event, not a sequence of them
    st.just([]),
)
not_expected = st.one_of(
    wrong_types.filter(lambda v: type(v) is not int and v not in (ANY, NO_STREAM, STREAM_EXISTS)),
    st.integers(max_value=-1),
    st.integers(min_value=2**63),
    st.sampled_from(["any", "no_stream"]),
)
not_command = st.one_of(
    wrong_types,
    st.builds(lambda: cart.AddItem(product_id="x")),  # a command of another decider
    st.builds(lambda: bank.Deposit(amount_cents="10")),  # type: ignore[arg-type]
    st.builds(lambda: bank.Deposit(amount_cents=1.5)),  # type: ignore[arg-type]
)
not_aware_datetime = st.one_of(
    wrong_types.filter(lambda v: v is not None),
    st.datetimes(),  # naive
    st.dates(),
)
not_snapshot = st.one_of(
    wrong_types,
    st.builds(
        Snapshot,
        stream_id=not_str,
        version=st.just(1),
        schema_version=st.just(1),
        data=st.just(b"{}"),
    ),
    st.builds(
        Snapshot,
        stream_id=st.just("account-1"),
        version=not_int,
        schema_version=st.just(1),
        data=st.just(b"{}"),
    ),
    st.builds(
        Snapshot,
        stream_id=st.just("account-1"),
        version=st.just(1),
        schema_version=st.just(1),
        data=wrong_types.filter(lambda v: not isinstance(v, bytes)),
    ),
)

# (argument, values it must refuse, the call with that value in that place)
CASES: dict[str, tuple[str, st.SearchStrategy[Any], Call]] = {
    "append.stream_id": ("stream", not_str, lambda s, h, v: s.append(v, [new_event()])),
    "append.events": ("events", not_events, lambda s, h, v: s.append("account-1", v)),
    "append.expected_version": (
        "expected",
        not_expected,
        lambda s, h, v: s.append("account-1", [new_event()], v),
    ),
    "read_stream.stream_id": ("stream", not_str, lambda s, h, v: list(s.read_stream(v))),
    "read_stream.from_version": (
        "from_version",
        not_int,
        lambda s, h, v: list(s.read_stream("account-1", from_version=v)),
    ),
    "read_stream.limit": (
        "limit",
        not_count,
        lambda s, h, v: list(s.read_stream("account-1", limit=v)),
    ),
    "read_stream.batch_size": (
        "batch_size",
        not_positive_int,
        lambda s, h, v: list(s.read_stream("account-1", batch_size=v)),
    ),
    "read_log.after": ("Checkpoint", not_checkpoint, lambda s, h, v: list(s.read_log(v))),
    "read_log.categories": (
        "categories",
        not_names,
        lambda s, h, v: list(s.read_log(categories=v)),
    ),
    "read_log.types": ("types", not_names, lambda s, h, v: list(s.read_log(types=v))),
    "read_log.limit": ("limit", not_count, lambda s, h, v: list(s.read_log(limit=v))),
    "read_log.batch_size": (
        "batch_size",
        not_positive_int,
        lambda s, h, v: list(s.read_log(batch_size=v)),
    ),
    "read_payloads.stream_id": ("stream", not_str, lambda s, h, v: list(s.read_payloads(v))),
    "read_payloads.from_version": (
        "from_version",
        not_int,
        lambda s, h, v: list(s.read_payloads("account-1", from_version=v)),
    ),
    "read_payloads.limit": (
        "limit",
        not_count,
        lambda s, h, v: list(s.read_payloads("account-1", limit=v)),
    ),
    "read_payloads.batch_size": (
        "batch_size",
        not_positive_int,
        lambda s, h, v: list(s.read_payloads("account-1", batch_size=v)),
    ),
    "read_log_payloads.after": (
        "Checkpoint",
        not_checkpoint,
        lambda s, h, v: list(s.read_log_payloads(v)),
    ),
    "read_log_payloads.categories": (
        "categories",
        not_names,
        lambda s, h, v: list(s.read_log_payloads(categories=v)),
    ),
    "read_log_payloads.types": (
        "types",
        not_names,
        lambda s, h, v: list(s.read_log_payloads(types=v)),
    ),
    "read_log_payloads.limit": (
        "limit",
        not_count,
        lambda s, h, v: list(s.read_log_payloads(limit=v)),
    ),
    "read_log_payloads.batch_size": (
        "batch_size",
        not_positive_int,
        lambda s, h, v: list(s.read_log_payloads(batch_size=v)),
    ),
    "stream_version.stream_id": ("stream", not_str, lambda s, h, v: s.stream_version(v)),
    "get_event.event_id": ("event id", not_uuid, lambda s, h, v: s.get_event(v)),
    "list_streams.category": (
        "category",
        not_str.filter(lambda v: v is not None),
        lambda s, h, v: list(s.list_streams(category=v)),
    ),
    "wait_for_events.after": (
        "Checkpoint",
        not_checkpoint,
        lambda s, h, v: s.wait_for_events(v, timeout=0),
    ),
    "wait_for_events.timeout": (
        "timeout",
        not_timeout,
        lambda s, h, v: s.wait_for_events(s.head(), timeout=v),
    ),
    "save_snapshot.snapshot": ("snapshot", not_snapshot, lambda s, h, v: s.save_snapshot(v)),
    "load_snapshot.stream_id": (
        "stream",
        not_str,
        lambda s, h, v: s.load_snapshot(v, schema_version=1),
    ),
    "load_snapshot.schema_version": (
        "schema_version",
        not_int,
        lambda s, h, v: s.load_snapshot("account-1", schema_version=v),
    ),
    "load_snapshot.name": (
        "name",
        not_str,
        lambda s, h, v: s.load_snapshot("account-1", name=v, schema_version=1),
    ),
    "load_snapshot.max_version": (
        "max_version",
        not_int,
        lambda s, h, v: s.load_snapshot("account-1", schema_version=1, max_version=v),
    ),
    "handle.stream_id": (
        "stream",
        not_str,
        lambda s, h, v: h.handle(v, bank.OpenAccount(owner="ada")),
    ),
    "handle.command": ("command", not_command, lambda s, h, v: h.handle("account-1", v)),
    "handle.command_id": (
        "command_id",
        not_uuid,
        lambda s, h, v: h.handle("account-1", bank.Deposit(amount_cents=1), command_id=v),
    ),
    "handle.causation_id": (
        "causation_id",
        not_uuid,
        lambda s, h, v: h.handle("account-1", bank.Deposit(amount_cents=1), causation_id=v),
    ),
    "handle.correlation_id": (
        "correlation_id",
        not_uuid,
        lambda s, h, v: h.handle("account-1", bank.Deposit(amount_cents=1), correlation_id=v),
    ),
    "handle.metadata": (
        "metadata",
        not_mapping,
        lambda s, h, v: h.handle("account-1", bank.Deposit(amount_cents=1), metadata=v),
    ),
    "load.stream_id": ("stream", not_str, lambda s, h, v: h.load(v)),
    "load.at_version": (
        "at_version",
        not_count,
        lambda s, h, v: h.load("account-1", at_version=v),
    ),
    "load.as_of": ("as_of", not_aware_datetime, lambda s, h, v: h.load("account-1", as_of=v)),
}

# Arguments whose type is not checked, and why.
NOT_CHECKED = {
    "read_stream.backward": "any value reads backward if true, as Python's `reverse=` does",
    "handle.new_stream": "a hint taken as a truth value; a wrong guess is corrected by the "
    "append's NO_STREAM check, so no value can store anything wrong",
}

FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@settings(max_examples=examples(25), deadline=None, suppress_health_check=FIXTURE)
@given(data=st.data())
def test_a_wrong_value_for_any_argument_is_refused_and_writes_nothing(
    store: EventStore, case: str, data: st.DataObject
) -> None:
    """Each drawn value raises a HistoireError (or a TypeError/ValueError naming the
    argument) before anything is written; the store then works as before."""
    argument, values, call = CASES[case]
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    if store.stream_version("account-1") == 0:
        handler.handle("account-1", bank.OpenAccount(owner="ada"))
    value = data.draw(values, label=argument)
    count, version = stored_count(store), store.stream_version("account-1")
    with pytest.raises(Exception) as raised:
        call(store, handler, value)
    assert refusal_names(raised.value, argument), (case, shown(value), repr(raised.value))
    assert (stored_count(store), store.stream_version("account-1")) == (count, version)
    assert handler.handle("account-1", bank.Deposit(amount_cents=1)).version == version + 1


def test_every_public_method_has_its_arguments_covered() -> None:
    """The table above names every argument of the EventStore protocol's and the command
    handler's public methods, so that a new argument gets its case."""
    import inspect

    from histoire.store.protocol import EventStore as Protocol

    not_inputs = {"close", "head"}
    missing = []
    for owner, methods in (
        (Protocol, [m for m in vars(Protocol) if not m.startswith("_")]),
        (CommandHandler, ["handle", "load"]),
    ):
        for method in methods:
            member = getattr(owner, method)
            if method in not_inputs or not callable(member):
                continue
            for parameter in list(inspect.signature(member).parameters)[1:]:
                if f"{method}.{parameter}" not in {**CASES, **NOT_CHECKED}:
                    missing.append(f"{method}.{parameter}")
    assert missing == []
