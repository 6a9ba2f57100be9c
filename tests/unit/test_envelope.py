"""The message envelope, routing words and broker URLs: pure functions, no server."""

from __future__ import annotations

import json
import uuid

import pytest

from histoire import MemoryEventStore, NewEvent
from histoire.brokers import envelope, open_broker, without_secrets
from histoire.brokers.routing import patterns, routing_key, word
from histoire.core.errors import InvalidBrokerURLError, InvalidMessageError


def stored() -> object:
    store = MemoryEventStore()
    cause = uuid.uuid4()
    store.append(
        "order-7",
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="shop.OrderPlaced",
                schema_version=2,
                data=b'{"items": [1, 2], "note": "\\u00e9t\\u00e9"}',
                metadata={"user": "ada", "ip": "::1"},
                causation_id=cause,
                correlation_id=cause,
            )
        ],
    )
    return next(iter(store.read_log()))


def test_an_envelope_reads_back_equal_to_the_stored_event() -> None:
    """decode(encode(event)) is the event: every field of the record survives."""
    record = stored()
    assert envelope.decode(envelope.encode(record)) == record  # type: ignore[arg-type]


def test_the_envelope_is_plain_json_with_every_documented_field() -> None:
    """Any JSON reader sees version 1, the ids as strings and the payload as an object."""
    record = stored()
    message = json.loads(envelope.encode(record))  # type: ignore[arg-type]
    assert list(message) == [
        "envelope", "event_id", "stream_id", "category", "version", "position", "commit",
        "type", "schema_version", "recorded_at", "data", "metadata", "causation_id",
        "correlation_id",
    ]  # fmt: skip
    assert message["envelope"] == 1
    assert message["data"] == {"items": [1, 2], "note": "été"}
    assert message["recorded_at"].endswith("Z")
    assert message["causation_id"] == str(record.causation_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "no envelope version"),
        (b'{"envelope": 2, "event_id": "x"}', "envelope version 2"),
        (b'{"envelope": 1, "event_id": "x"}', "Invalid UUID"),
        (b'{"envelope": 1}', "Object missing required field"),
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "envelope": 1}', "recursion"),
    ],
)
def test_a_message_that_is_no_envelope_is_refused_with_where_and_why(
    raw: bytes, reason: str
) -> None:
    """InvalidMessageError names the message and says what is wrong with it."""
    with pytest.raises(InvalidMessageError) as caught:
        envelope.decode(raw, "histoire.order.x #3")
    assert caught.value.where == "histoire.order.x #3"
    assert reason in caught.value.reason


def test_routing_words_escape_what_would_route_wrongly() -> None:
    """Dots, wildcards and spaces in a category become %XX; a type keeps its dots."""
    assert routing_key("order", "shop.OrderPlaced") == "order.shop.OrderPlaced"
    assert word("a.b*c >d") == "a%2Eb%2Ac%20%3Ed"
    assert word("été") == "%C3%A9t%C3%A9"
    assert patterns(None, None, one_word="*", many_words=">") == ["*.>"]
    assert patterns(["order"], ["a.B"], one_word="*", many_words="#") == ["order.a.B"]


def test_a_broker_url_loses_its_secrets_and_keeps_its_destination() -> None:
    """User, password and other options go; host, port, path and destination stay."""
    url = "amqp://guest:secret@127.0.0.1:5672/vhost?exchange=ev&heartbeat=5"
    assert without_secrets(url) == "amqp://127.0.0.1:5672/vhost?exchange=ev"
    assert without_secrets("nats://token@h:4222") == "nats://h:4222"


@pytest.mark.parametrize("url", ["kafka://h:9092", "h:4222", ""])
def test_an_unknown_broker_url_is_refused(url: str) -> None:
    """open_broker names the URL and the schemes it knows."""
    with pytest.raises(InvalidBrokerURLError, match="unknown scheme"):
        open_broker(url)
