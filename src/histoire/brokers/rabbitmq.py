"""RabbitMQ: a topic exchange `histoire`, routing key `<category>.<type>`, confirmed.

Publishing: persistent messages (delivery mode 2) with the event id as
`message_id`, the envelope's content type and the event type as `type`, on a
channel with publisher confirms; a batch is written in one go and its
confirms awaited together. RabbitMQ does not drop a message published twice:
consumers do (histoire's followers by each stream's version). A message no
queue is bound for is dropped by RabbitMQ: start a consumer once (it
declares its queue) before the relay publishes what it must see; history
from before that is in the store (`projections rebuild`).

Consuming: a durable queue per subscription (`<exchange>.<name>`), bound to
the exchange for the categories and types it wants, consumed with manual
acks and a prefetch window. Messages a consumer received but did not
acknowledge go back to their place in the queue when it goes away, so each
stream's order holds.

URL: `amqp://user:password@host:5672/vhost[?exchange=histoire]`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aio_pika
import aiormq
import aiormq.exceptions
from aio_pika.connection import make_url

from histoire.brokers import envelope, routing
from histoire.brokers._loop import LoopThread
from histoire.brokers.protocol import Delivery
from histoire.brokers.urls import without_secrets
from histoire.core.errors import BrokerUnavailableError
from histoire.core.recorded import RecordedEvent

CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for the confirms of one published batch."""

_FAILURES = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,  # a RuntimeError: the channel closed under us
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    TimeoutError,
)


class RabbitMQBroker:
    """Publishes to and consumes from RabbitMQ, behind blocking calls."""

    def __init__(self, url: str, *, confirm_timeout: float = CONFIRM_TIMEOUT) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        self.exchange_name = options.pop("exchange", "histoire")
        self._server = urlunsplit(parts._replace(query=urlencode(options)))
        self.url = without_secrets(url)
        self.confirm_timeout = confirm_timeout
        self._loop = LoopThread(f"histoire-amqp {self.url}")
        self._connection: Any = None
        self._channel: Any = None

    def _call(self, coro: Any, doing: str) -> Any:
        try:
            return self._loop.run(coro, timeout=self.confirm_timeout + 5)
        except _FAILURES as exc:
            raise BrokerUnavailableError(self.url, f"{doing}: {type(exc).__name__}: {exc}") from exc

    async def _open(self) -> tuple[Any, Any]:
        """A new connection and a confirming channel, with the exchange declared."""
        # Not aio_pika.connect(): when connecting fails it drops a Connection that is not
        # closed, whose __del__ then starts close() from wherever the GC runs (an
        # un-awaited coroutine outside the loop). Each one opened here is closed.
        connection = aio_pika.Connection(make_url(self._server))
        try:
            await connection.connect(timeout=5)
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except BaseException:
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(connection.close(), 2)
            raise
        return connection, channel

    # -- publishing -------------------------------------------------------------

    def publish(self, records: Sequence[RecordedEvent]) -> None:
        """Publish `records` in order; return once RabbitMQ confirmed each one."""
        if records:
            self._call(self._publish(records), f"publishing {len(records)} events")

    async def _publish(self, records: Sequence[RecordedEvent]) -> None:
        if self._connection is None or self._connection.is_closed:
            self._connection, self._channel = await self._open()
        underlay = await self._channel.get_underlay_channel()
        # One task per message, created in order: each takes the channel's lock (first
        # come, first served) to write its frames, so they go out in order; the
        # confirms are then awaited together.
        tasks = [
            asyncio.ensure_future(
                underlay.basic_publish(
                    envelope.encode(record),
                    exchange=self.exchange_name,
                    routing_key=routing.routing_key(record.category, record.type),
                    properties=aiormq.spec.Basic.Properties(
                        delivery_mode=2,
                        message_id=str(record.event_id),
                        content_type=envelope.CONTENT_TYPE,
                        message_type=record.type,
                    ),
                )
            )
            for record in records
        ]
        try:
            results = await asyncio.wait_for(asyncio.gather(*tasks), self.confirm_timeout)
        except BaseException:
            for task in tasks:
                task.cancel()
            await self._drop_connection()
            raise
        if not all(isinstance(r, aiormq.spec.Basic.Ack) for r in results):
            await self._drop_connection()
            raise aiormq.exceptions.DeliveryError(None, None)  # type: ignore[arg-type]

    async def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(*_FAILURES):  # it is gone already
                await asyncio.wait_for(connection.close(), 2)

    # -- consuming --------------------------------------------------------------

    def subscribe(
        self,
        name: str,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> RabbitMQSubscription:
        """The durable queue `<exchange>.<name>`, bound for `categories` and `types`."""
        bindings = routing.patterns(categories, types, one_word="*", many_words="#")
        queue = f"{self.exchange_name}.{name}"
        state = self._call(self._consume(queue, bindings), f"subscribing {name}")
        return RabbitMQSubscription(self, *state)

    async def _consume(self, queue_name: str, bindings: list[str]) -> tuple[Any, Any]:
        connection, channel = await self._open()
        await channel.set_qos(prefetch_count=2000)
        queue = await channel.declare_queue(queue_name, durable=True)
        for pattern in bindings:
            await queue.bind(self.exchange_name, routing_key=pattern)
        received: asyncio.Queue[Any] = asyncio.Queue()
        await queue.consume(received.put, no_ack=False)
        return connection, received

    def close(self) -> None:
        """Close the publishing connection and the loop thread."""
        try:
            self._loop.run(self._drop_connection(), timeout=5)
        except (*_FAILURES, RuntimeError):
            pass
        finally:
            self._loop.close()


class RabbitMQSubscription:
    """A durable queue consumed with manual acks, on a connection of its own."""

    def __init__(self, broker: RabbitMQBroker, connection: Any, received: Any) -> None:
        self._broker = broker
        self._connection = connection
        self._received: asyncio.Queue[Any] = received

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        messages = self._broker._call(self._fetch(max_count, timeout), "fetching")
        return [
            Delivery(envelope.decode(m.body, f"{m.routing_key} ({m.message_id})"), m)
            for m in messages
        ]

    async def _fetch(self, max_count: int, timeout: float) -> list[Any]:
        if self._connection.is_closed:
            raise ConnectionError("the connection to RabbitMQ was closed")
        try:
            first = await asyncio.wait_for(self._received.get(), max(timeout, 0.01))
        except TimeoutError:
            if self._connection.is_closed:
                raise ConnectionError("the connection to RabbitMQ was closed") from None
            return []
        messages = [first]
        while len(messages) < max_count and not self._received.empty():
            messages.append(self._received.get_nowait())
        return messages

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            # Every message up to the last one was handed out in this batch or an earlier one.
            self._broker._call(deliveries[-1].handle.ack(multiple=True), "acknowledging")

    def close(self) -> None:
        """Close this subscription's connection: unacknowledged messages go back to the queue."""
        connection = self._connection

        async def close() -> None:
            if not connection.is_closed:
                await asyncio.wait_for(connection.close(), 2)

        with contextlib.suppress(BrokerUnavailableError):
            self._broker._call(close(), "closing")
