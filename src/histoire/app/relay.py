"""The relay: publishes every committed event to a message broker, in log order, once.

The log is the outbox: there is no table of messages to send. The relay
follows the log like a projection (same follower, checkpoint in the store,
consumer groups) and, for each batch, publishes the events, waits for the
broker's acknowledgements of all of them, and only then records the batch's
checkpoint. Killed at any moment, it publishes again what it had not
recorded: the broker (NATS JetStream, by `Nats-Msg-Id`) or the consumers (by
each stream's version) drop the duplicates; nothing is lost.

While the broker is down, the relay waits and publishes the same batch again,
with backoff, until it is acknowledged (or it is told to stop).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from histoire.app.follower import ConsumerGroup, Follower
from histoire.app.lag import MAX_PAUSE, follower_state, keep_trying, lag, record_stopped, stand_by
from histoire.brokers.protocol import Broker
from histoire.brokers.urls import without_secrets
from histoire.core.errors import BrokerUnavailableError, InvalidInputError
from histoire.core.recorded import START, Checkpoint, RecordedEvent
from histoire.store import progress
from histoire.store.progress import FollowerKey
from histoire.store.protocol import EventStore
from histoire.store.transactions import TransactionalStore

logger = logging.getLogger(__name__)

PREFIX = "relay:"

HEARTBEAT = 2.0
"""Seconds between two progress records of an idle live relay (status: running)."""


def relay_name(broker_url: str) -> str:
    """The name a relay to `broker_url` records its checkpoint under (no secrets in it)."""
    return PREFIX + without_secrets(broker_url)


@dataclass(slots=True)
class RelayReport:
    """What one run of a relay did."""

    name: str
    published: int = 0
    checkpoint: Checkpoint = START
    broker_failures: int = 0
    """Publish attempts that failed (the broker down or slow); each was tried again."""

    @property
    def failure(self) -> None:
        """A relay never stops on an event (it waits for the broker): always None."""
        return None


class Relay:
    """Publishes the store's log to a broker from its checkpoint, as one consumer-group member."""

    def __init__(
        self,
        store: EventStore,
        broker: Broker,
        *,
        group: ConsumerGroup | None = None,
        batch_size: int = 1000,
    ) -> None:
        if not isinstance(store, TransactionalStore):
            raise InvalidInputError(
                f"{store.url}: this store cannot hold the relay's checkpoint (no transaction())"
            )
        self.store = store
        self.broker = broker
        self.group = group or ConsumerGroup()
        self.batch_size = batch_size
        self.name = relay_name(broker.url)
        self.key = FollowerKey(self.name, self.group.member, self.group.members)

    def run(self, *, live: bool = False, stop: threading.Event | None = None) -> RelayReport:
        """Publish what is new (and keep following if `live`, until `stop`)."""
        stop = stop or threading.Event()
        report = RelayReport(self.name)

        def attempt() -> bool:
            if self._follow(report, live=live, stop=stop):
                record_stopped(self.store, self.key)
                return True
            # Another relay of this member moved the checkpoint (two started by
            # mistake): the batch went out twice, which the broker or the consumers
            # drop. Live, stand by while the other runs rather than race it.
            if live:
                stand_by(self.store, self.key, stop)
            return False

        keep_trying(self.name, attempt, live=live, stop=stop)
        return report

    def _follow(self, report: RelayReport, *, live: bool, stop: threading.Event) -> bool:
        """Publish from the recorded checkpoint; False if another relay of the member moved it."""
        with self.store.transaction() as tx:
            progress.ensure_tables(tx)
            recorded = progress.load(tx, self.key)
        report.checkpoint = recorded.checkpoint if recorded else START
        follower = Follower(self.store, group=self.group, batch_size=self.batch_size)
        for batch in follower.batches(report.checkpoint, live=live, stop=stop, heartbeat=HEARTBEAT):
            if batch.events and not self._publish(batch.events, report, live=live, stop=stop):
                return True  # stopped while the broker was down: published next time
            with self.store.transaction() as tx:
                moved = progress.advance(
                    tx, self.key, report.checkpoint, batch.checkpoint, len(batch.events)
                )
            if not moved:
                return False
            report.published += len(batch.events)
            report.checkpoint = batch.checkpoint
        return True

    def _publish(
        self, events: list[RecordedEvent], report: RelayReport, *, live: bool, stop: threading.Event
    ) -> bool:
        """Publish `events` until the broker acknowledges them; False if stopped first."""
        pause = 0.1
        while True:
            try:
                self.broker.publish(events)
                return True
            except BrokerUnavailableError as exc:
                report.broker_failures += 1
                if not live:
                    raise
                logger.warning("%s: %s; publishing again in %.1f s", self.name, exc, pause)
            if stop.wait(pause):
                return False
            pause = min(pause * 2, MAX_PAUSE)


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """One consumer-group member of one relay: where it stands in the log."""

    relay: str
    """`relay:<broker URL without secrets>`."""
    member: int
    members: int
    checkpoint: Checkpoint
    head: Checkpoint
    published: int
    lag_events: int
    lag_seconds: float
    state: str
    """`running`, `stopped` or `caught up`."""
    updated_at: dt.datetime


def relay_status(store: EventStore) -> list[RelayStatus]:
    """The status of every relay that ran on `store`, by name."""
    if not isinstance(store, TransactionalStore):
        raise InvalidInputError(f"{store.url}: this store holds no relay")
    head = store.head()
    with store.transaction(read_only=True) as tx:
        if not progress.tables_exist(tx):
            return []
        records = progress.load_all(tx, PREFIX)
    now = dt.datetime.now(dt.UTC)
    result = []
    for record in records:
        behind = lag(store, record.checkpoint, head, now)
        result.append(
            RelayStatus(
                relay=record.key.name,
                member=record.key.member,
                members=record.key.members,
                checkpoint=record.checkpoint,
                head=head,
                published=record.handled,
                lag_events=behind.events,
                lag_seconds=behind.seconds,
                state=follower_state(record, record.checkpoint, head, now),
                updated_at=record.updated_at,
            )
        )
    return result
