"""The codec: domain events to stored bytes and back, upcasting old versions on read."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, ClassVar

import msgspec
import pytest

from histoire import (
    Codec,
    CodecError,
    Event,
    EventDecodeError,
    EventRegistry,
    NewEvent,
    RecordedEvent,
    UnknownEventTypeError,
    UpcastError,
    Upcasters,
)
from histoire.codec.states import decode_state, encode_state
from histoire.examples.bank import (
    EVENTS,
    Account,
    AccountClosed,
    AccountClosureRefused,
    AccountOpened,
    Deposited,
    WithdrawalRefused,
    Withdrawn,
    make_upcasters,
)


def stored(
    new: NewEvent | None = None,
    *,
    type: str | None = None,
    schema_version: int | None = None,
    data: bytes | None = None,
    stream_id: str = "account-1",
    version: int = 1,
) -> RecordedEvent:
    """A RecordedEvent as a store would give back `new`, or one with the fields given."""
    return RecordedEvent(
        event_id=new.event_id if new else uuid.uuid4(),
        stream_id=stream_id,
        version=version,
        position=version,
        recorded_at=dt.datetime.now(dt.UTC),
        type=type or (new.type if new else "?"),
        schema_version=schema_version or (new.schema_version if new else 1),
        data=data if data is not None else (new.data if new else b"{}"),
        metadata=dict(new.metadata) if new else {},
        causation_id=new.causation_id if new else None,
        correlation_id=new.correlation_id if new else None,
    )


bank_codec = Codec(EVENTS, make_upcasters())

BANK_EVENTS = [
    AccountOpened(owner="ada", currency="EUR"),
    Deposited(amount_cents=1250, currency="EUR"),
    Withdrawn(amount_cents=300),
    WithdrawalRefused(amount_cents=9000, balance_cents=950, reason="insufficient funds"),
    AccountClosureRefused(balance_cents=950, reason="the balance is not zero"),
    AccountClosed(),
]


@pytest.mark.parametrize("event", BANK_EVENTS, ids=lambda e: type(e).__name__)
def test_an_encoded_event_decodes_to_itself(event: Event) -> None:
    """encode then decode gives back an equal event of the same class."""
    decoded = bank_codec.decode(stored(bank_codec.encode(event)))
    assert decoded == event
    assert type(decoded) is type(event)


def test_encode_fills_the_envelope() -> None:
    """encode records the type name, schema version, JSON payload, ids and metadata given."""
    event_id, cause, correlation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    new = bank_codec.encode(
        Deposited(amount_cents=1250, currency="EUR"),
        event_id=event_id,
        metadata={"user": "ada"},
        causation_id=cause,
        correlation_id=correlation,
    )
    assert (new.event_id, new.type, new.schema_version) == (event_id, "bank.Deposited", 2)
    assert json.loads(new.data) == {"amount_cents": 1250, "currency": "EUR"}
    assert dict(new.metadata) == {"user": "ada"}
    assert (new.causation_id, new.correlation_id) == (cause, correlation)


def test_encode_gives_each_event_a_fresh_id() -> None:
    """Without an event_id, every encoded event gets a new UUID."""
    ids = {bank_codec.encode(Withdrawn(amount_cents=1)).event_id for _ in range(100)}
    assert len(ids) == 100


def test_encode_copies_the_metadata() -> None:
    """Changing the metadata dict after encoding does not change the event."""
    metadata = {"user": "ada"}
    new = bank_codec.encode(AccountClosed(), metadata=metadata)
    metadata["user"] = "eve"
    assert dict(new.metadata) == {"user": "ada"}


def test_encoding_an_unregistered_event_is_refused() -> None:
    """An event whose type the codec does not know cannot be encoded."""

    class Stray(Event):
        pass

    with pytest.raises(UnknownEventTypeError) as raised:
        bank_codec.encode(Stray())
    assert raised.value.type_name == "Stray"


def test_encoding_something_that_is_not_an_event_is_refused() -> None:
    """Only Event instances can be encoded."""
    with pytest.raises(CodecError):
        bank_codec.encode({"amount_cents": 5})  # type: ignore[arg-type]


def test_decoding_an_unknown_type_names_it_and_the_known_ones() -> None:
    """A stored type name the registry does not know raises UnknownEventTypeError."""
    with pytest.raises(UnknownEventTypeError) as raised:
        bank_codec.decode(stored(type="bank.Teleported", data=b"{}"))
    error = raised.value
    assert error.type_name == "bank.Teleported"
    assert "bank.Deposited" in error.known
    assert "bank.Teleported" in str(error)


@pytest.mark.parametrize(
    "data",
    [
        b'{"currency":"EUR"}',
        b'{"amount_cents":"12","currency":"EUR"}',
        b'{"amount_cents":12.5,"currency":"EUR"}',
        b"[1, 2]",
        b"not json",
        b"",
        b'{"amount_cents": 1, "note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["missing-field", "str-for-int", "float-for-int", "array", "not-json", "empty", "deep"],
)
def test_a_payload_that_does_not_match_its_class_names_the_type(data: bytes) -> None:
    """A payload that does not fit its class raises EventDecodeError naming type and place."""
    with pytest.raises(EventDecodeError) as raised:
        bank_codec.decode(
            stored(
                type="bank.Deposited", schema_version=2, data=data, stream_id="account-9", version=4
            )
        )
    error = raised.value
    assert (error.type_name, error.schema_version) == ("bank.Deposited", 2)
    assert "bank.Deposited" in str(error)
    assert "account-9" in str(error) and "version=4" in str(error)


def test_a_v1_deposit_is_upcast_on_read() -> None:
    """The bank's v1 Deposited (float euros) reads as v2 (integer cents and a currency)."""
    record = stored(type="bank.Deposited", schema_version=1, data=b'{"amount":12.5}')
    assert bank_codec.decode(record) == Deposited(amount_cents=1250, currency="EUR")
    assert record.data == b'{"amount":12.5}', "stored bytes never change"


def test_an_old_payload_that_is_not_an_object_is_a_decode_error() -> None:
    """An old payload that is not a JSON object cannot be upcast."""
    with pytest.raises(EventDecodeError):
        bank_codec.decode(stored(type="bank.Deposited", schema_version=1, data=b"[12.5]"))
    with pytest.raises(EventDecodeError):
        bank_codec.decode(stored(type="bank.Deposited", schema_version=1, data=b"{oops"))
    deep = b'{"amount": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(EventDecodeError):
        bank_codec.decode(stored(type="bank.Deposited", schema_version=1, data=deep))


def test_decode_all_gives_each_event_in_order_upcast_as_decode_does() -> None:
    """A batch of mixed types and versions (runs of one type, changes, an old version
    between current ones) decodes in order, each as `decode` gives it."""
    records = [stored(bank_codec.encode(e), version=i + 1) for i, e in enumerate(BANK_EVENTS)]
    old = stored(type="bank.Deposited", schema_version=1, data=b'{"amount":12.5}', version=7)
    again = stored(bank_codec.encode(Deposited(amount_cents=5, currency="EUR")), version=8)
    batch = [*records, records[1], old, again, again, old]
    assert bank_codec.decode_all(batch) == [bank_codec.decode(r) for r in batch]
    assert bank_codec.decode_all([]) == []
    fresh = Codec(EVENTS, make_upcasters())  # no decoder cached yet: first of each type
    assert fresh.decode_all(batch) == [bank_codec.decode(r) for r in batch]


@pytest.mark.parametrize("at", [0, 2, 4])
def test_decode_all_names_the_record_that_does_not_decode(at: int) -> None:
    """A bad payload among good ones of its type (first, middle, last) raises
    EventDecodeError naming that record, as `decode` does."""
    good = [
        stored(bank_codec.encode(Deposited(amount_cents=i, currency="EUR")), version=i + 1)
        for i in range(5)
    ]
    good[at] = stored(type="bank.Deposited", schema_version=2, data=b'{"amount_cents":"x"}',
                      stream_id="account-9", version=at + 1)  # fmt: skip
    with pytest.raises(EventDecodeError) as raised:
        bank_codec.decode_all(good)
    assert f"version={at + 1}" in str(raised.value) and "account-9" in str(raised.value)


def test_decode_all_names_an_unknown_type() -> None:
    """A type no registry knows, after events that decode, raises UnknownEventTypeError."""
    batch = [stored(bank_codec.encode(AccountOpened(owner="a", currency="EUR"))),
             stored(type="bank.Teleported", data=b"{}")]  # fmt: skip
    with pytest.raises(UnknownEventTypeError, match=r"bank\.Teleported"):
        bank_codec.decode_all(batch)


# -- a made-up event with three schema versions --------------------------------


class Renamed(Event):
    """v1 {"name": "Ada Lovelace"}; v2 {"first", "last"}; v3 adds {"title"}."""

    type_name: ClassVar[str] = "people.Renamed"
    schema_version: ClassVar[int] = 3
    first: str
    last: str
    title: str


def split_name(payload: dict[str, Any]) -> dict[str, Any]:
    first, _, last = payload.pop("name").partition(" ")
    return {**payload, "first": first, "last": last}


def add_title(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "title": ""}


def renamed_codec(*steps: tuple[int, Any]) -> Codec:
    upcasters = Upcasters()
    for from_version, step in steps:
        upcasters.register("people.Renamed", from_version, step)
    return Codec([Renamed], upcasters)


def test_an_upcaster_chain_brings_every_old_version_to_the_current_one() -> None:
    """v1 and v2 payloads are brought to v3 through the chain; v3 decodes as is."""
    codec = renamed_codec((1, split_name), (2, add_title))
    expected = Renamed(first="Ada", last="Lovelace", title="")
    v1 = stored(type="people.Renamed", schema_version=1, data=b'{"name":"Ada Lovelace"}')
    v2 = stored(type="people.Renamed", schema_version=2, data=b'{"first":"Ada","last":"Lovelace"}')
    v3 = stored(
        type="people.Renamed",
        schema_version=3,
        data=b'{"first":"Ada","last":"Lovelace","title":""}',
    )
    assert [codec.decode(r) for r in (v1, v2, v3)] == [expected] * 3


def test_upcasters_register_as_decorators() -> None:
    """Upcasters.register(type, version) used as a decorator registers the function."""
    upcasters = Upcasters()

    @upcasters.register("people.Renamed", 1)
    def v1(payload: dict[str, Any]) -> dict[str, Any]:
        return split_name(payload)

    upcasters.register("people.Renamed", 2)(add_title)
    assert ("people.Renamed", 1) in upcasters and ("people.Renamed", 2) in upcasters
    codec = Codec([Renamed], upcasters)
    record = stored(type="people.Renamed", schema_version=1, data=b'{"name":"Ada L"}')
    assert codec.decode(record) == Renamed(first="Ada", last="L", title="")


def test_a_missing_upcaster_is_an_upcast_error() -> None:
    """A hole in the chain raises UpcastError naming the version with no upcaster."""
    codec = renamed_codec((2, add_title))
    record = stored(type="people.Renamed", schema_version=1, data=b'{"name":"Ada Lovelace"}')
    with pytest.raises(UpcastError) as raised:
        codec.decode(record)
    error = raised.value
    assert (error.type_name, error.from_version, error.to_version) == ("people.Renamed", 1, 3)
    assert "no upcaster registered from v1" in str(error)


def test_a_version_newer_than_the_code_is_an_upcast_error() -> None:
    """An event stored by newer code than this one raises UpcastError asking for an upgrade."""
    codec = renamed_codec((1, split_name), (2, add_title))
    record = stored(type="people.Renamed", schema_version=4, data=b'{"first":"A"}')
    with pytest.raises(UpcastError, match="newer") as raised:
        codec.decode(record)
    assert (raised.value.from_version, raised.value.to_version) == (4, 3)


def test_a_failing_upcaster_is_an_upcast_error() -> None:
    """An upcaster that raises is reported as UpcastError, with the original as cause."""

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("name")

    codec = renamed_codec((1, broken), (2, add_title))
    with pytest.raises(UpcastError, match="from v1 failed") as raised:
        codec.decode(stored(type="people.Renamed", schema_version=1, data=b"{}"))
    assert isinstance(raised.value.__cause__, KeyError)


def test_an_upcaster_returning_no_dict_is_an_upcast_error() -> None:
    """An upcaster must return a dict."""
    codec = renamed_codec((1, lambda p: [p]), (2, add_title))
    with pytest.raises(UpcastError, match="not dict"):
        codec.decode(stored(type="people.Renamed", schema_version=1, data=b'{"name":"A B"}'))


def test_an_upcast_payload_that_does_not_fit_the_class_is_a_decode_error() -> None:
    """A chain that ends with a payload missing fields raises EventDecodeError."""
    codec = renamed_codec((1, lambda p: p), (2, add_title))
    with pytest.raises(EventDecodeError, match=r"people\.Renamed"):
        codec.decode(stored(type="people.Renamed", schema_version=1, data=b'{"name":"A B"}'))


def test_an_upcaster_is_registered_once() -> None:
    """Registering two upcasters for the same type and version is refused."""
    upcasters = Upcasters()
    upcasters.register("people.Renamed", 1, split_name)
    with pytest.raises(ValueError, match="already registered"):
        upcasters.register("people.Renamed", 1, split_name)


@pytest.mark.parametrize("version", [0, -1, "1"])
def test_an_upcaster_from_an_invalid_version_is_refused(version: Any) -> None:
    """from_version must be an int >= 1."""
    with pytest.raises(ValueError, match="from_version"):
        Upcasters().register("people.Renamed", version, split_name)


# -- the registry --------------------------------------------------------------


def test_the_registry_finds_classes_by_type_name() -> None:
    """A registry maps each type name to its class; `in`, len and iteration work."""
    registry = EventRegistry(EVENTS)
    assert registry.get("bank.Deposited") is Deposited
    assert "bank.Withdrawn" in registry and "bank.Nothing" not in registry
    assert len(registry) == len(EVENTS)
    assert set(registry) == set(EVENTS)


def test_registering_a_class_twice_is_harmless() -> None:
    """The same class registered again changes nothing; register works as a decorator."""
    registry = EventRegistry([Deposited])
    assert registry.register(Deposited) is Deposited
    assert len(registry) == 1


def test_two_classes_cannot_share_a_type_name() -> None:
    """A second class under a type name already taken is refused."""

    class Impostor(Event):
        type_name: ClassVar[str] = "bank.Deposited"

    registry = EventRegistry([Deposited])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor)


def test_only_event_classes_register() -> None:
    """Registering something that is not an Event subclass raises TypeError."""
    with pytest.raises(TypeError):
        EventRegistry([dict])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        EventRegistry().register(Withdrawn(amount_cents=1))  # type: ignore[type-var]


def test_registries_are_separate_objects() -> None:
    """Registering in one registry leaves another unchanged: there is no global registry."""
    first, second = EventRegistry(), EventRegistry()
    first.register(Deposited)
    assert "bank.Deposited" in first and "bank.Deposited" not in second


# -- snapshot states -----------------------------------------------------------


def test_a_state_round_trips_through_its_encoding() -> None:
    """encode_state then decode_state gives back an equal state."""
    account = Account(opened=True, owner="ada", currency="EUR", balance_cents=1250)
    assert decode_state(encode_state(account), Account) == account


def test_a_state_that_does_not_decode_is_a_codec_error() -> None:
    """Bytes that are not a state of the type raise CodecError."""
    with pytest.raises(CodecError):
        decode_state(b'{"balance_cents":"lots"}', Account)
    with pytest.raises(CodecError):
        decode_state(b"garbage", Account)


def test_a_state_that_cannot_be_encoded_is_a_codec_error() -> None:
    """A state msgspec cannot encode raises CodecError."""
    with pytest.raises(CodecError):
        encode_state(object())


def test_payloads_are_compact_json() -> None:
    """The stored payload is plain JSON that any tool can read."""
    new = bank_codec.encode(Deposited(amount_cents=5, currency="EUR"))
    assert msgspec.json.decode(new.data) == {"amount_cents": 5, "currency": "EUR"}
