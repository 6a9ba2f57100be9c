"""Redis Streams: one stream per category (`histoire:<category>`), consumer groups.

Publishing: each event is one entry `XADD histoire:<category> MAXLEN ~ N *`
with the fields `event_id`, `type` and `envelope` (the JSON envelope); a
batch goes in one pipeline, and its replies are the acknowledgements. The
categories seen are kept in the set `histoire:categories`, for consumers of
every category. `MAXLEN ~` bounds each stream (`?maxlen=`, default
1,000,000 entries): what consumers have not read before it is trimmed is
lost to them, so size it to the lag you accept.

Redis does not drop a message published twice: consumers do (histoire's
followers by each stream's version).

Consuming: a consumer group per subscription on each stream, created at the
start of the stream. A subscription first reads its own pending entries
(delivered to a consumer that died before acknowledging), then new ones; so
each stream's entries come in order.

URL: `redis://[:password@]host:6379/0[?prefix=histoire&maxlen=1000000]`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.exceptions

from histoire.brokers import envelope
from histoire.brokers.protocol import Delivery
from histoire.brokers.urls import without_secrets
from histoire.core.errors import BrokerUnavailableError, InvalidBrokerURLError
from histoire.core.recorded import RecordedEvent

MAXLEN = 1_000_000
"""Default bound of each category's stream (approximate, `MAXLEN ~`)."""

CONSUMER = "histoire"
"""The consumer name inside each group: one consumer per subscription."""

_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisBroker:
    """Publishes to and consumes from Redis Streams."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        self.prefix = options.pop("prefix", "histoire")
        try:
            self.maxlen = int(options.pop("maxlen", MAXLEN))
        except ValueError:
            raise InvalidBrokerURLError(url, "maxlen must be an int") from None
        if self.maxlen < 1:
            raise InvalidBrokerURLError(url, "maxlen must be >= 1")
        self.url = without_secrets(url)
        client_url = urlunsplit(parts._replace(query=urlencode(options)))
        try:
            self.client = redis.Redis.from_url(
                client_url,
                socket_connect_timeout=2,
                socket_timeout=timeout,
                health_check_interval=5,
            )
        except ValueError as exc:
            raise InvalidBrokerURLError(url, str(exc)) from None
        self.categories_key = f"{self.prefix}:categories"

    def stream_key(self, category: str) -> str:
        """The Redis stream of `category`'s events."""
        return f"{self.prefix}:{category}"

    def _failed(self, doing: str, exc: Exception) -> BrokerUnavailableError:
        return BrokerUnavailableError(self.url, f"{doing}: {type(exc).__name__}: {exc}")

    def publish(self, records: Sequence[RecordedEvent]) -> None:
        """XADD each of `records` in order, in one pipeline; return once Redis answered all."""
        if not records:
            return
        pipe = self.client.pipeline(transaction=False)
        for category in sorted({r.category for r in records}):
            pipe.sadd(self.categories_key, category)
        for record in records:
            pipe.xadd(
                self.stream_key(record.category),
                {
                    "event_id": str(record.event_id),
                    "type": record.type,
                    "envelope": envelope.encode(record),
                },
                maxlen=self.maxlen,
                approximate=True,
            )
        try:
            pipe.execute()
        except _FAILURES as exc:
            raise self._failed(f"publishing {len(records)} events", exc) from exc

    def subscribe(
        self,
        name: str,
        *,
        categories: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> RedisSubscription:
        """The consumer group `name` on the streams of `categories` (None: every one)."""
        return RedisSubscription(self, name, categories)

    def close(self) -> None:
        """Close the connections."""
        self.client.close()


class RedisSubscription:
    """A consumer group on each category's stream: pending entries first, then new ones."""

    REFRESH = 1.0
    """Seconds between two looks for new categories (when following every category)."""

    def __init__(self, broker: RedisBroker, group: str, categories: Collection[str] | None) -> None:
        self._broker = broker
        self._client = broker.client
        self.group = group
        self._every = categories is None
        self._keys: dict[Any, Any] = {}
        """Each stream followed, and where to read it next: an id (pending) or `>` (new)."""
        self._looked = 0.0
        self._wanted = (
            [] if categories is None else [broker.stream_key(c) for c in sorted(categories)]
        )
        try:
            self._add_streams(self._wanted)
        except _FAILURES as exc:
            raise broker._failed(f"subscribing {group}", exc) from exc

    def _add_streams(self, keys: list[str]) -> None:
        for key in keys:
            if key in self._keys:
                continue
            try:
                self._client.xgroup_create(key, self.group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._keys[key] = "0"  # this consumer's pending entries first

    def _refresh(self) -> None:
        if not self._every or (self._keys and time.monotonic() - self._looked < self.REFRESH):
            return
        self._looked = time.monotonic()
        found = self._client.smembers(self._broker.categories_key)
        names = sorted(c.decode() if isinstance(c, bytes) else str(c) for c in found)
        self._add_streams([self._broker.stream_key(c) for c in names])

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        try:
            self._refresh()
            if not self._keys:
                time.sleep(min(timeout, 0.2))
                return []
            pending: dict[Any, Any] = {k: v for k, v in self._keys.items() if v != ">"}
            if pending:
                replies = self._client.xreadgroup(
                    self.group,
                    CONSUMER,
                    pending,
                    count=max_count,
                )
                got = self._deliveries(replies, pending=True)
                if got:
                    return got
            new: dict[Any, Any] = {k: ">" for k, v in self._keys.items() if v == ">"}
            if not new:
                return []
            replies = self._client.xreadgroup(
                self.group,
                CONSUMER,
                new,
                count=max_count,
                block=max(int(timeout * 1000), 1),
            )
        except _FAILURES as exc:
            raise self._broker._failed("fetching", exc) from exc
        return self._deliveries(replies, pending=False)

    def _deliveries(self, replies: Any, *, pending: bool) -> list[Delivery]:
        found: list[Delivery] = []
        gone: list[tuple[str, Any]] = []
        for raw_key, entries in replies or []:
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            if pending and not entries:
                self._keys[key] = ">"  # no pending entry left: new ones from now on
            for entry_id, fields in entries:
                if pending:
                    self._keys[key] = entry_id
                if not fields:  # trimmed away while pending: nothing to hand out
                    gone.append((key, entry_id))
                    continue
                where = f"{key} {entry_id.decode() if isinstance(entry_id, bytes) else entry_id}"
                record = envelope.decode(fields.get(b"envelope", b""), where)
                found.append(Delivery(record, (key, entry_id)))
        if gone:
            self._xack(gone)
        # streams interleave: hand out in log order, each stream's order kept
        found.sort(key=lambda d: d.record.checkpoint)
        return found

    def _xack(self, handles: Sequence[tuple[str, Any]]) -> None:
        by_key: dict[str, list[Any]] = {}
        for key, entry_id in handles:
            by_key.setdefault(key, []).append(entry_id)
        pipe = self._client.pipeline(transaction=False)
        for key, ids in by_key.items():
            pipe.xack(key, self.group, *ids)
        pipe.execute()

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        try:
            self._xack([d.handle for d in deliveries])
        except _FAILURES as exc:
            raise self._broker._failed("acknowledging", exc) from exc

    def close(self) -> None:
        """Nothing to release: the group and its pending entries stay in Redis."""
