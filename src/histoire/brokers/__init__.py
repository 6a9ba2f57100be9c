"""Message brokers the relay publishes to and followers consume from.

`open_broker(url)` picks the broker by the URL's scheme:

- `nats://host:4222` NATS JetStream (`histoire.brokers.nats_jetstream`)
- `redis://host:6379/0` Redis Streams (`histoire.brokers.redis_streams`)
- `amqp://user:password@host:5672/vhost` RabbitMQ (`histoire.brokers.rabbitmq`)

Each speaks the small `Broker` interface (`histoire.brokers.protocol`) and
carries events in the documented JSON envelope (`histoire.brokers.envelope`).
The clients are an extra: `pip install 'histoire[brokers]'`.
"""

from __future__ import annotations

from histoire.brokers.protocol import Broker, Delivery, Subscription
from histoire.brokers.urls import DESTINATION_OPTIONS, open_broker, without_secrets

__all__ = [
    "DESTINATION_OPTIONS",
    "Broker",
    "Delivery",
    "Subscription",
    "open_broker",
    "without_secrets",
]
