"""Helpers of the broker tests: a namespace of its own per test on each local broker.

Each test gets a URL whose stream, subject, key prefix or exchange nobody
else uses, and everything it created there is deleted afterwards. Also: read
a subscription to the end, and check that it holds each stored event once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

from histoire import EventStore
from histoire.brokers import Broker, Delivery
from histoire.core.errors import BrokerUnavailableError

from ._services import broker_url_or_skip

BROKERS = ["nats", "redis", "rabbitmq"]


def isolated(url: str, kind: str, tag: str) -> str:
    """`url` with a namespace of its own named by `tag`."""
    joiner = "&" if urlsplit(url).query else "?"
    option = {
        "nats": f"stream=T{tag.upper()}&subject=t{tag}",
        "redis": f"prefix=t{tag}",
        "rabbitmq": f"exchange=t{tag}",
    }[kind]
    return url + joiner + option


@contextlib.contextmanager
def broker_namespace(kind: str) -> Iterator[str]:
    """A URL of the local broker `kind` with a fresh namespace, emptied afterwards."""
    base = broker_url_or_skip(kind)
    tag = uuid.uuid4().hex[:12]
    try:
        yield isolated(base, kind, tag)
    finally:
        with contextlib.suppress(Exception):
            clean(base, kind, tag)


def clean(base: str, kind: str, tag: str) -> None:
    """Delete what a test created in namespace `tag`."""
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(base)
        for key in client.scan_iter(match=f"t{tag}:*"):
            client.delete(key)
        client.close()
    elif kind == "nats":
        asyncio.run(_clean_nats(base, f"T{tag.upper()}"))
    else:
        asyncio.run(_clean_rabbitmq(base, f"t{tag}"))


async def _clean_nats(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def _clean_rabbitmq(url: str, exchange: str) -> None:
    import aiormq

    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
        # the queues of the subscriptions the tests open (`<exchange>.<name>`)
        for name in QUEUES_SEEN.pop(exchange, set()):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(f"{exchange}.{name}")
    finally:
        await connection.close()


QUEUES_SEEN: dict[str, set[str]] = {}
"""Subscription names a test used, by exchange, for the cleanup (tests fill it)."""


def remember_subscription(url: str, name: str) -> None:
    """Note that a test subscribed `name` on `url` (RabbitMQ: its queue is deleted after)."""
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if "=" in p)
    if "exchange" in query:
        QUEUES_SEEN.setdefault(query["exchange"], set()).add(name)


def everything(broker: Broker, name: str, expected: int, timeout: float = 30) -> list[Delivery]:
    """Every message of the subscription `name`, until `expected` distinct events came."""
    subscription = broker.subscribe(name)
    got: list[Delivery] = []
    distinct: set[object] = set()
    deadline = time.monotonic() + timeout
    batch: list[Delivery] = []
    while time.monotonic() < deadline:
        try:
            batch = subscription.fetch(500, 0.5 if len(distinct) < expected else 0.3)
        except BrokerUnavailableError:  # subscribe again, as histoire's followers do
            subscription.close()
            subscription = broker.subscribe(name)
            continue
        got += batch
        distinct.update(d.record.event_id for d in batch)
        if len(distinct) >= expected and not batch:
            break  # the duplicates after the last one are in too
        subscription.ack(batch)
    subscription.close()
    return got


def assert_each_event_once_in_order(store: EventStore, got: list[Delivery]) -> int:
    """After dropping what a follower drops (a stream's version already seen), the messages
    are the store's events, each stream in version order. Returns the duplicates dropped."""
    applied: dict[str, int] = {}
    kept = []
    for delivery in got:
        record = delivery.record
        if record.version > applied.get(record.stream_id, 0):
            assert record.version == applied.get(record.stream_id, 0) + 1, (
                f"{record.stream_id}: version {record.version} after "
                f"{applied.get(record.stream_id, 0)}: an event was lost or came out of order"
            )
            applied[record.stream_id] = record.version
            kept.append(record.event_id)
    stored = [e.event_id for e in store.read_log()]
    assert sorted(kept) == sorted(stored)
    return len(got) - len(kept)
