"""Broker URLs: which broker a URL names, and its name without secrets."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from histoire.brokers.protocol import Broker
from histoire.core.errors import InvalidBrokerURLError

_BY_SCHEME = {
    "nats": ("histoire.brokers.nats_jetstream", "NatsBroker", "nats-py"),
    "tls": ("histoire.brokers.nats_jetstream", "NatsBroker", "nats-py"),
    "redis": ("histoire.brokers.redis_streams", "RedisBroker", "redis"),
    "rediss": ("histoire.brokers.redis_streams", "RedisBroker", "redis"),
    "amqp": ("histoire.brokers.rabbitmq", "RabbitMQBroker", "aio-pika"),
    "amqps": ("histoire.brokers.rabbitmq", "RabbitMQBroker", "aio-pika"),
}


def open_broker(url: str, **options: Any) -> Broker:
    """The broker at `url` (nats://, redis://, amqp://); `options` go to its class."""
    if not isinstance(url, str):
        raise InvalidBrokerURLError(repr(url), "a broker URL is a str")
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:
        raise InvalidBrokerURLError(url, str(exc)) from None
    if scheme not in _BY_SCHEME:
        raise InvalidBrokerURLError(
            url, f"unknown scheme {scheme!r} (use nats://, redis:// or amqp://)"
        )
    module_name, class_name, package = _BY_SCHEME[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidBrokerURLError(
            url, f"the {package} client is not installed ({exc}): pip install 'histoire[brokers]'"
        ) from None
    broker: Broker = getattr(module, class_name)(url, **options)
    return broker


DESTINATION_OPTIONS = ("exchange", "prefix", "stream", "subject")
"""URL options that say where events go (kept in a broker's name; others are dropped)."""


def without_secrets(url: str) -> str:
    """`url` without user, password or other options: a broker's name in logs and checkpoints.

    `amqp://guest:guest@127.0.0.1:5672/?heartbeat=5` is `amqp://127.0.0.1:5672/`; the
    options that choose the destination (stream, subject, prefix, exchange) stay.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    query = parse_qs(parts.query)
    kept = "&".join(f"{k}={query[k][-1]}" for k in DESTINATION_OPTIONS if k in query)
    return f"{parts.scheme}://{host}{parts.path}" + (f"?{kept}" if kept else "")
