"""The broker interface: publish events in order, consume them durably.

One small interface, so that the relay and the followers fed from a broker
never name a broker, and another one (Kafka) is one more module:

- `publish(records)` sends a batch in order and returns once the broker
  acknowledged every message (pipelined: one wait for the batch, not one
  round trip per event). On failure it raises BrokerUnavailableError and the
  caller publishes the same batch again: duplicates are dropped by event id,
  by the broker (NATS JetStream) or by the consumer (every broker).
- `subscribe(name, ...)` opens the durable subscription `name`: it resumes
  after what was acknowledged, and hands out each event's messages in the
  order they were published, the unacknowledged ones of a crashed consumer
  first. `ack` after the events were handled.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from histoire.core.recorded import RecordedEvent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message received: the event it carries and the broker's handle to acknowledge it."""

    record: RecordedEvent
    handle: Any


class Subscription(Protocol):
    """A durable consumer of a broker: fetch in order, acknowledge after handling."""

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        """Up to `max_count` messages in order, waiting at most `timeout` seconds for the first.

        An empty list means nothing came in time. Raises BrokerUnavailableError,
        and InvalidMessageError for a message that is no histoire envelope.
        """
        ...

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge `deliveries`: the broker will not hand them out again."""
        ...

    def close(self) -> None:
        """Stop consuming; what was not acknowledged is handed out again later."""
        ...


class Broker(Protocol):
    """A message broker events are published to and consumed from."""

    url: str
    """The broker's URL without secrets (no password), as logs and checkpoints name it."""

    def publish(self, records: Sequence[RecordedEvent]) -> None:
        """Publish `records` in order; return once the broker acknowledged all of them."""
        ...

    def subscribe(
        self,
        name: str,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> Subscription:
        """The durable subscription `name` to events of `categories` and `types` (None: all).

        The broker may hand out other events too: the caller filters again.
        """
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...
