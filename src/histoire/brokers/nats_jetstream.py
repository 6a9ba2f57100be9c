"""NATS JetStream: events on subjects `histoire.<category>.<type>`, in one stream.

Publishing: the stream (`HISTOIRE`, subjects `histoire.>`, file storage) is
created if missing. Each message carries `Nats-Msg-Id: <event id>`, so the
server drops what a restarted relay publishes twice (within the stream's
duplicate window, 10 minutes when histoire creates it; consumers drop older
duplicates by themselves). A batch is written in one go and its acks are
awaited together.

Consuming: a durable pull consumer per subscription, explicit acks. A
consumer that died with messages unacknowledged would have them redelivered
only after the ack wait, behind newer ones, out of order: so a subscription
that finds unacknowledged messages recreates its consumer at the ack floor,
and the next fetch starts with them, in order.

URL: `nats://host:4222[?stream=HISTOIRE&subject=histoire]` (also `tls://`,
and user:password@ or a token as nats-py takes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from histoire.brokers import envelope, routing
from histoire.brokers._loop import LoopThread
from histoire.brokers.protocol import Delivery
from histoire.brokers.urls import without_secrets
from histoire.core.errors import BrokerUnavailableError, InvalidBrokerURLError
from histoire.core.recorded import RecordedEvent

logger = logging.getLogger(__name__)

DUPLICATE_WINDOW = 600.0
"""Seconds the server remembers message ids, for a stream histoire creates."""

ACK_TIMEOUT = 10.0
"""Seconds to wait for the acknowledgements of one published batch."""

_FAILURES = (nats.errors.Error, OSError, asyncio.TimeoutError, TimeoutError)


def durable_name(name: str) -> str:
    """A consumer name NATS accepts, distinct for distinct `name`s."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)
    return f"{safe[:80]}_{zlib.crc32(name.encode()):08x}"


class NatsBroker:
    """Publishes to and consumes from NATS JetStream, behind blocking calls."""

    def __init__(self, url: str, *, ack_timeout: float = ACK_TIMEOUT) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.stream = query.pop("stream", "HISTOIRE")
        self.prefix = query.pop("subject", "histoire")
        if query:
            raise InvalidBrokerURLError(url, f"unknown option(s) {', '.join(sorted(query))}")
        if not parts.hostname:
            raise InvalidBrokerURLError(url, "no host")
        self.url = without_secrets(url)
        self._server = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self.ack_timeout = ack_timeout
        self._loop = LoopThread(f"histoire-nats {self.url}")
        self._nc: Any = None
        self._js: Any = None
        self._stream_ready = False

    # -- connection -------------------------------------------------------------

    async def _connect(self) -> Any:
        if self._nc is None or self._nc.is_closed:

            async def error(exc: Exception) -> None:
                logger.debug("nats %s: %s", self.url, exc)

            self._nc = await nats.connect(
                servers=[self._server],
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                error_cb=error,
            )
            self._js = self._nc.jetstream(timeout=self.ack_timeout)
        if not self._stream_ready:
            try:
                await self._js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(
                    api.StreamConfig(
                        name=self.stream,
                        subjects=[f"{self.prefix}.>"],
                        storage=api.StorageType.FILE,
                        duplicate_window=DUPLICATE_WINDOW,
                    )
                )
            self._stream_ready = True
        return self._js

    def _call(self, coro: Any, doing: str) -> Any:
        try:
            return self._loop.run(coro, timeout=self.ack_timeout + 5)
        except _FAILURES as exc:
            raise BrokerUnavailableError(self.url, f"{doing}: {type(exc).__name__}: {exc}") from exc

    # -- publishing -------------------------------------------------------------

    def subject(self, record: RecordedEvent) -> str:
        """The subject `record` is published on."""
        return f"{self.prefix}.{routing.routing_key(record.category, record.type)}"

    def publish(self, records: Sequence[RecordedEvent]) -> None:
        """Publish `records` in order; return once JetStream acknowledged each one."""
        if records:
            self._call(self._publish(records), f"publishing {len(records)} events")

    async def _publish(self, records: Sequence[RecordedEvent]) -> None:
        js = await self._connect()
        futures: list[asyncio.Future[Any]] = []
        try:
            for record in records:
                futures.append(
                    await js.publish_async(
                        self.subject(record),
                        envelope.encode(record),
                        headers={"Nats-Msg-Id": str(record.event_id)},
                    )
                )
            await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout)
        finally:
            for future in futures:
                future.cancel()  # frees the client's slots of acks that never came

    # -- consuming --------------------------------------------------------------

    def subscribe(
        self,
        name: str,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> NatsSubscription:
        """The durable pull consumer `name`, resumed at its first unacknowledged message."""
        found = routing.patterns(categories, types, one_word="*", many_words=">")
        # one filter subject per consumer (servers before 2.10): the whole stream otherwise
        subject = f"{self.prefix}.{found[0]}" if len(found) == 1 else f"{self.prefix}.>"
        durable = durable_name(name)
        pull, delivered = self._call(self._bind(durable, subject), f"subscribing {name}")
        return NatsSubscription(self, pull, delivered)

    async def _bind(self, durable: str, subject: str) -> tuple[Any, int]:
        """The pull subscription, and the consumer sequence delivered before it."""
        js = await self._connect()
        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            filter_subject=subject,
            ack_wait=60.0,
            max_ack_pending=20_000,
        )
        delivered = 0
        try:
            info = await js.consumer_info(self.stream, durable)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(self.stream, config)
        else:
            delivered = info.delivered.consumer_seq if info.delivered else 0
            if info.num_ack_pending or info.config.filter_subject != subject:
                # Restart at the ack floor: the unacknowledged messages come first, in order.
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                start = max(floor + 1, info.config.opt_start_seq or 1)
                await js.delete_consumer(self.stream, durable)
                config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = start
                await js.add_consumer(self.stream, config)
                delivered = 0
        return await js.pull_subscribe_bind(durable, stream=self.stream), delivered

    def close(self) -> None:
        """Close the connection and the loop thread."""
        nc = self._nc

        async def close() -> None:
            if nc is not None and not nc.is_closed:
                await nc.close()

        try:
            self._loop.run(close(), timeout=5)
        except (*_FAILURES, RuntimeError):
            pass
        finally:
            self._loop.close()


class NatsSubscription:
    """A durable JetStream pull consumer, in the order the messages were stored."""

    def __init__(self, broker: NatsBroker, pull: Any, delivered: int) -> None:
        self._broker = broker
        self._pull = pull
        self._last = delivered
        """The consumer sequence of the last delivery: the next one must follow it (a
        delivery to a dead consumer's pull request in between would be a gap)."""

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        messages = self._broker._call(self._fetch(max_count, timeout), "fetching")
        for message in messages:
            # Only an unbroken run of deliveries keeps each stream's order: a gap or a
            # redelivery (a lost ack, a fetch that timed out) makes the caller subscribe
            # again, which restarts at the ack floor.
            sequence = message.metadata.sequence.consumer
            if sequence != self._last + 1:
                raise BrokerUnavailableError(
                    self._broker.url,
                    f"delivery {sequence} after {self._last}: resuming at the ack floor",
                )
            self._last = sequence
        return [
            Delivery(envelope.decode(m.data, f"{m.subject} #{m.metadata.sequence.stream}"), m)
            for m in messages
        ]

    async def _fetch(self, max_count: int, timeout: float) -> list[Any]:
        wait = max(timeout, 0.01)
        # The client's own timeout has been seen to hang, and so has its cancellation
        # (wait_for, which awaits it, then blocked the loop's caller for 15 s): bound
        # the wait, and leave a fetch that overstays to end on its own. What it may
        # still take is not acknowledged, so JetStream delivers it again.
        fetching = asyncio.ensure_future(self._pull.fetch(max_count, timeout=wait))
        done, _ = await asyncio.wait((fetching,), timeout=wait + 2)
        if not done:
            fetching.add_done_callback(_forget)
            fetching.cancel()
            return []
        try:
            messages: list[Any] = fetching.result()
        except (TimeoutError, nats.errors.TimeoutError):  # nothing came in time
            return []
        return messages

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._broker._call(self._ack(deliveries), "acknowledging")

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await delivery.handle.ack()
        await self._broker._nc.flush(timeout=max(1, round(self._broker.ack_timeout)))

    def close(self) -> None:
        with contextlib.suppress(BrokerUnavailableError):
            self._broker._call(self._pull.unsubscribe(), "unsubscribing")


def _forget(task: asyncio.Future[Any]) -> None:
    """Take an abandoned fetch's outcome, so that asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()
