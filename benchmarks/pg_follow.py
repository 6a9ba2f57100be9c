"""W9: latency from an append to a live follower receiving the event, on PostgreSQL.

One process, two threads, two connection pools: a writer appends one event
per call to one stream at a steady rate; a follower, with its own store or
application, follows the log live. Per event, the latency is from just before
the append call (`time.perf_counter_ns()` in the writer thread) to when the
follower gets the decoded event (the same clock in the follower thread). It
includes the append itself (one durable commit), the notification, the
follower's wake-up and its read.

- histoire: `store.append(stream, [codec.encode(Deposited(...))], version)`;
  the follower loops `store.read_log(checkpoint)` + `codec.decode` and then
  `store.wait_for_events(checkpoint, timeout)` (LISTEN/NOTIFY).
- eventsourcing: `account.deposit(...)` + `app.save(account)`; the follower is
  an `eventsourcing.projection.ApplicationSubscription` on a second `Bank`
  application: its PostgreSQL recorder's `subscribe()`, LISTEN/NOTIFY with a
  listening thread and a pulling thread, yielding decoded domain events.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.common import AMOUNT_CENTS, CURRENCY, OWNER

SETTLE_SECONDS = 0.5
"""Pause between starting the follower and the first append (its LISTEN is on)."""

WAIT_SECONDS = 10.0
"""How long the warm-up event, and the last events, may take to reach the follower."""


class Seen(Protocol):
    def __call__(self, version: int) -> None: ...


class FollowSide(Protocol):
    """One system's writer and follower on one stream (versions 1, 2, ...)."""

    def open_stream(self) -> None:
        """Append the stream's first event (version 1), the warm-up."""

    def append(self, version: int) -> None:
        """Append one event, which gets `version`."""

    def follow(self, seen: Seen) -> None:
        """Follow the log live, calling `seen(version)` per event, until stop()."""

    def stop(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Latencies:
    samples_ns: list[int]
    seconds: float
    """How long the writer took to append them all."""

    def percentile(self, q: float) -> float:
        """The `q`-th percentile (nearest rank), in milliseconds."""
        ordered = sorted(self.samples_ns)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1] / 1e6

    def stats(self) -> dict[str, float]:
        return {
            "p50": self.percentile(50),
            "p99": self.percentile(99),
            "max": max(self.samples_ns) / 1e6,
        }


def measure(side: FollowSide, count: int, rate: float) -> Latencies:
    """Follow in a thread, append `count` events at `rate` per second, time each one."""
    sent = [0] * count
    got = [0] * count
    warm = threading.Event()
    everything = threading.Event()
    missing = [count]
    errors: list[BaseException] = []

    def seen(version: int) -> None:
        now = time.perf_counter_ns()
        if version == 1:
            warm.set()
            return
        i = version - 2
        if 0 <= i < count and not got[i]:
            got[i] = now
            missing[0] -= 1
            if not missing[0]:
                everything.set()

    def follower() -> None:
        try:
            side.follow(seen)
        except BaseException as exc:  # reported below
            errors.append(exc)
            warm.set()
            everything.set()

    thread = threading.Thread(target=follower, name="bench-follower", daemon=True)
    thread.start()
    try:
        time.sleep(SETTLE_SECONDS)
        side.open_stream()
        if not warm.wait(WAIT_SECONDS):
            raise TimeoutError(f"the follower did not see the first event in {WAIT_SECONDS} s")
        period = 1.0 / rate
        started = next_at = time.perf_counter()
        for i in range(count):
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent[i] = time.perf_counter_ns()
            side.append(i + 2)
            next_at = max(next_at + period, time.perf_counter())
        took = time.perf_counter() - started
        everything.wait(WAIT_SECONDS)
    finally:
        side.stop()
        thread.join(WAIT_SECONDS)
    if errors:
        raise errors[0]
    if missing[0]:
        raise AssertionError(f"the follower saw {count - missing[0]} of {count} events")
    return Latencies([g - s for s, g in zip(sent, got, strict=True)], took)


# -- histoire ---------------------------------------------------------------------


class HistoireFollow:
    def __init__(self, url: str, schema: str) -> None:
        from histoire import Codec, EventRegistry, open_store, stream_id_for
        from histoire.examples import bank

        self.bank = bank
        self.codec = Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())
        self.writer = open_store(url, schema=schema)
        self.reader = open_store(url, schema=schema)
        self.stream_id = stream_id_for("account", uuid.uuid4())
        self._stop = threading.Event()

    def open_stream(self) -> None:
        from histoire import NO_STREAM

        opened = self.codec.encode(self.bank.AccountOpened(owner=OWNER, currency=CURRENCY))
        self.writer.append(self.stream_id, [opened], NO_STREAM)

    def append(self, version: int) -> None:
        deposited = self.bank.Deposited(amount_cents=AMOUNT_CENTS, currency=CURRENCY)
        self.writer.append(self.stream_id, [self.codec.encode(deposited)], version - 1)

    def follow(self, seen: Seen) -> None:
        from histoire import START

        store, decode, stop = self.reader, self.codec.decode, self._stop
        checkpoint = START
        while not stop.is_set():
            for record in store.read_log(checkpoint):
                decode(record)
                seen(record.version)
                checkpoint = record.checkpoint
            store.wait_for_events(checkpoint, timeout=0.2)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


# -- eventsourcing ----------------------------------------------------------------------


class EventsourcingFollow:
    def __init__(self, env: dict[str, str]) -> None:
        from benchmarks.systems_eventsourcing import Bank, BankAccount

        self.writer = Bank(env=env)
        self.reader = Bank(env=env)
        self.account = BankAccount(owner=OWNER, currency=CURRENCY)
        self._subscription: Any = None
        self._stopped = False

    def open_stream(self) -> None:
        self.writer.save(self.account)

    def append(self, version: int) -> None:
        self.account.deposit(AMOUNT_CENTS)
        self.writer.save(self.account)
        assert self.account.version == version

    def follow(self, seen: Seen) -> None:
        from eventsourcing.projection import ApplicationSubscription

        with ApplicationSubscription(self.reader) as subscription:
            self._subscription = subscription
            if self._stopped:
                return
            for domain_event, _tracking in subscription:
                seen(domain_event.originator_version)

    def stop(self) -> None:
        self._stopped = True
        if self._subscription is not None:
            self._subscription.stop()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()
