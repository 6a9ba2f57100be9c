"""A follower fed from a broker instead of the store: the same batches, from a subscription.

Projections and reactions run the same handlers on it (`--from-broker URL`).
It hands out `Batch`es like the store's follower, with three differences:

- a batch may hold events already handled (published twice by a relay that
  was killed, or not acknowledged by a consumer that was): the runner drops
  them with `histoire.store.applied`, in its own transaction (`redelivers`);
- the runner calls `settle(batch)` once the batch is committed: the messages
  are acknowledged then, and not before;
- the checkpoint of a batch is the highest checkpoint of the events seen so
  far, for `status` and `wait_for_projection`. It is exact when the broker
  keeps the log's order (NATS, RabbitMQ); with Redis and several categories,
  the streams of the categories interleave and it is an estimate.

Each member of a consumer group has a durable subscription of its own, reads
every event and keeps those of its streams (the group is a filter here too).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Collection, Iterator

from histoire.app.follower import Batch, ConsumerGroup
from histoire.brokers.protocol import Broker, Delivery, Subscription
from histoire.brokers.routing import selected
from histoire.core.errors import BrokerUnavailableError
from histoire.core.recorded import Checkpoint

logger = logging.getLogger(__name__)

FETCH_WAIT = 1.0
"""Seconds a catch-up (not live) waits for more messages before it calls itself done."""

MAX_PAUSE = 5.0
"""Longest wait between two attempts to reach a broker that is down."""


def subscription_name(follower: str, group: ConsumerGroup) -> str:
    """The durable subscription of one member of a follower (`projection:levels:g1`, 0/1)."""
    return f"{follower}:{group.member}of{group.members}"


class BrokerFeed:
    """Batches of events from a broker's durable subscription, acknowledged once settled."""

    redelivers = True
    """A batch may hold events already handled: the runner drops them by stream version."""

    def __init__(
        self,
        broker: Broker,
        follower: str,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
        group: ConsumerGroup | None = None,
        batch_size: int = 500,
        fetch_wait: float = FETCH_WAIT,
    ) -> None:
        self.broker = broker
        self.group = group or ConsumerGroup()
        self.name = subscription_name(follower, self.group)
        self.categories = None if categories is None else set(categories)
        self.types = None if types is None else set(types)
        self.batch_size = batch_size
        self.fetch_wait = fetch_wait
        self._subscription: Subscription | None = None
        self._unsettled: tuple[Batch, list[Delivery]] | None = None

    def batches(
        self,
        after: Checkpoint,
        *,
        live: bool = False,
        stop: threading.Event | None = None,
        heartbeat: float | None = None,
    ) -> Iterator[Batch]:
        """Batches of what the subscription hands out; forever if `live` (until `stop`).

        Without `live`, it ends once a fetch found nothing for `fetch_wait` seconds.
        """
        stop = stop or threading.Event()
        checkpoint = after
        pause = 0.1
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    if self._subscription is None:
                        self._subscription = self.broker.subscribe(
                            self.name, categories=self.categories, types=self.types
                        )
                    deliveries = self._subscription.fetch(
                        self.batch_size, 0.25 if live else self.fetch_wait
                    )
                except BrokerUnavailableError as exc:
                    if not live:
                        raise
                    logger.warning("%s: %s; trying again in %.1f s", self.name, exc, pause)
                    self._drop_subscription()
                    stop.wait(pause)
                    pause = min(pause * 2, MAX_PAUSE)
                    continue
                pause = 0.1
                if not deliveries:
                    if not live:
                        return
                    if heartbeat is not None and time.monotonic() - idle_since >= heartbeat:
                        idle_since = time.monotonic()
                        yield Batch([], checkpoint)
                    continue
                idle_since = time.monotonic()
                checkpoint = max(checkpoint, *(d.record.checkpoint for d in deliveries))
                events = [
                    d.record
                    for d in deliveries
                    if self.group.owns(d.record.stream_id)
                    and selected(d.record.category, d.record.type, self.categories, self.types)
                ]
                batch = Batch(events, checkpoint)
                self._unsettled = (batch, deliveries)
                yield batch
                self._unsettled = None  # not settled: handed out again (and dropped as handled)
        finally:
            self._drop_subscription()

    def settle(self, batch: Batch) -> None:
        """`batch` is committed: acknowledge its messages (a failed ack only means redelivery)."""
        if self._unsettled is None or self._unsettled[0] is not batch:
            return
        deliveries = self._unsettled[1]
        self._unsettled = None
        if self._subscription is None:
            return
        try:
            self._subscription.ack(deliveries)
        except BrokerUnavailableError as exc:
            logger.warning("%s: acknowledging failed (%s): handed out again", self.name, exc)

    def _drop_subscription(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            with contextlib.suppress(BrokerUnavailableError):
                subscription.close()
