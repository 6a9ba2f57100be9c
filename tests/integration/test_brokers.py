"""Each broker against its real local server: order, acknowledgements, redelivery, envelope.

Parametrised over NATS JetStream, Redis Streams and RabbitMQ. A missing
server skips (fails under HISTOIRE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from histoire import MemoryEventStore, NewEvent, RecordedEvent
from histoire.brokers import Broker, Delivery, open_broker
from histoire.brokers.envelope import ENVELOPE_VERSION

from ..brokers import BROKERS, broker_namespace, remember_subscription


@pytest.fixture(params=BROKERS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str) -> Iterator[str]:
    with broker_namespace(kind) as found:
        yield found


@pytest.fixture
def broker(url: str) -> Iterator[Broker]:
    opened = open_broker(url)
    yield opened
    opened.close()


def recorded(count: int, streams: int = 3, category: str = "order") -> list[RecordedEvent]:
    """`count` events over `streams` streams, as a store records them."""
    store = MemoryEventStore()
    for n in range(count):
        store.append(
            f"{category}-{n % streams}",
            [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type="shop.OrderPlaced" if n % 2 else "shop.OrderPaid",
                    schema_version=1,
                    data=json.dumps({"n": n, "text": "café ☕"}).encode(),
                    metadata={"user": "ada"},
                )
            ],
        )
    return list(store.read_log())


def subscribe(broker: Broker, url: str, name: str, **filters: object) -> object:
    remember_subscription(url, name)
    return broker.subscribe(name, **filters)  # type: ignore[arg-type]


def fetch_all(subscription: object, expected: int, wait: float = 2.0) -> list[Delivery]:
    got: list[Delivery] = []
    for _ in range(50):
        batch = subscription.fetch(100, wait)  # type: ignore[attr-defined]
        if not batch:
            break
        got += batch
        if len(got) >= expected:
            break
    return got


def test_published_events_come_back_in_order_and_equal(broker: Broker, url: str) -> None:
    """A subscription hands out every published event, in order, equal to what was stored."""
    subscription = subscribe(broker, url, "reader")
    events = recorded(30)
    broker.publish(events[:10])
    broker.publish(events[10:])
    got = fetch_all(subscription, 30)
    assert [d.record for d in got] == events
    subscription.ack(got)  # type: ignore[attr-defined]
    assert subscription.fetch(100, 0.3) == []  # type: ignore[attr-defined]
    subscription.close()  # type: ignore[attr-defined]


def test_unacknowledged_messages_come_first_and_in_order_to_the_next_consumer(
    broker: Broker, url: str
) -> None:
    """A consumer that dies before acking: its messages go to the next one first, in order."""
    first = subscribe(broker, url, "worker")
    events = recorded(20)
    broker.publish(events[:10])
    taken = fetch_all(first, 10)
    assert len(taken) == 10
    first.ack(taken[:4])  # type: ignore[attr-defined]
    first.close()  # dies with 6 unacknowledged
    broker.publish(events[10:])
    second = subscribe(broker, url, "worker")
    got = fetch_all(second, 16)
    assert [d.record.event_id for d in got] == [e.event_id for e in events[4:]]
    second.close()  # type: ignore[attr-defined]


def test_a_subscription_filters_by_category(broker: Broker, url: str) -> None:
    """A subscription to one category gets its events (others may be filtered by the caller)."""
    subscription = subscribe(broker, url, "orders", categories=["order"])
    orders, carts = recorded(6), recorded(6, category="cart")
    broker.publish(carts + orders)
    got = fetch_all(subscription, 6)
    assert [d.record.event_id for d in got if d.record.category == "order"] == [
        e.event_id for e in orders
    ]
    subscription.close()  # type: ignore[attr-defined]


def test_a_relay_publishing_twice_is_harmless_to_order(broker: Broker, url: str) -> None:
    """The same batch published again (a relay restarted): each stream's order still holds."""
    subscription = subscribe(broker, url, "twice")
    events = recorded(12)
    broker.publish(events[:8])
    broker.publish(events)  # the first 8 again
    got = fetch_all(subscription, 20, wait=1.0)
    # What a follower keeps: an event above its stream's last applied version.
    applied: dict[str, int] = {}
    kept = []
    for delivery in got:
        record = delivery.record
        if record.version > applied.get(record.stream_id, 0):
            applied[record.stream_id] = record.version
            kept.append(record.event_id)
    assert sorted(kept) == sorted(e.event_id for e in events)
    for stream in {e.stream_id for e in events}:
        assert [i for i in kept if i in {e.event_id for e in events if e.stream_id == stream}] == [
            e.event_id for e in events if e.stream_id == stream
        ]
    subscription.close()  # type: ignore[attr-defined]


def test_the_envelope_is_read_by_a_client_that_is_not_histoire(
    broker: Broker, url: str, kind: str
) -> None:
    """redis-cli, raw nats-py and raw aiormq read the JSON envelope as documented."""
    subscribe(broker, url, "raw").close()  # type: ignore[attr-defined]
    (event,) = recorded(1)
    broker.publish([event])
    options = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    if kind == "redis":
        raw = redis_cli_envelope(url, f"{options['prefix']}:order")
    elif kind == "nats":
        raw = asyncio.run(nats_envelope(url, options["stream"]))
    else:
        raw = asyncio.run(amqp_envelope(url, f"{options['exchange']}.raw"))
    message = json.loads(raw)
    assert message == {
        "envelope": ENVELOPE_VERSION,
        "event_id": str(event.event_id),
        "stream_id": "order-0",
        "category": "order",
        "version": 1,
        "position": 1,
        "commit": 0,
        "type": "shop.OrderPaid",
        "schema_version": 1,
        "recorded_at": event.recorded_at.isoformat().replace("+00:00", "Z"),
        "data": {"n": 0, "text": "café ☕"},
        "metadata": {"user": "ada"},
        "causation_id": None,
        "correlation_id": None,
    }


def redis_cli_envelope(url: str, key: str) -> str:
    parts = urlsplit(url)
    out = subprocess.run(
        [
            "redis-cli",
            "-h",
            str(parts.hostname),
            "-p",
            str(parts.port),
            "--raw",
            "XRANGE",
            key,
            "-",
            "+",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.splitlines()
    return out[out.index("envelope") + 1]


async def nats_envelope(url: str, stream: str) -> str:
    import nats

    nc = await nats.connect(url.split("?")[0])
    try:
        message = await nc.jetstream().get_msg(stream, 1)
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == json.loads(message.data)["event_id"]
        return bytes(message.data).decode()
    finally:
        await nc.close()


async def amqp_envelope(url: str, queue: str) -> str:
    import aiormq

    connection = await aiormq.connect(url.split("?")[0])
    try:
        channel = await connection.channel()
        message = await channel.basic_get(queue, no_ack=True)
        assert message.header.properties.delivery_mode == 2
        assert message.header.properties.content_type.startswith("application/vnd.histoire")
        return bytes(message.body).decode()
    finally:
        await connection.close()
