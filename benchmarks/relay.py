"""`python -m benchmarks.relay`: the relay's throughput and append-to-consumer latency per broker.

For each broker (NATS JetStream, Redis Streams, RabbitMQ, on the local servers):

- throughput: a SQLite store holding N events is relayed from the start
  (`Relay.run()`, batches of 1,000); events per second, acks awaited;
- latency: three processes, as in production: this one appends events one
  at a time, `histoire relay --to URL` (live) publishes them, and a consumer
  process (a durable subscription) receives them; the time from the append's
  return to the consumer's receipt, p50 and p99.

Options: `--events N` (throughput, default 20,000), `--latency-events N`
(default 500), `--rate R` appends per second (default 200), `--brokers`
(default nats,redis,rabbitmq), `--json` for one JSON object per broker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from histoire import NewEvent, open_broker, open_store
from histoire.app.relay import Relay

URLS = {
    "nats": "nats://127.0.0.1:4222",
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
}

CONSUMER = """
import sys, time
from histoire.brokers import open_broker
from histoire.core.errors import BrokerUnavailableError
broker = open_broker(sys.argv[1])
subscription = broker.subscribe("bench-latency")
print("ready", flush=True)
while True:
    try:
        batch = subscription.fetch(500, 0.2)
        for d in batch:
            print(d.record.event_id, time.time(), flush=True)
        subscription.ack(batch)
    except BrokerUnavailableError:  # subscribe again, as histoire's followers do
        subscription.close()
        subscription = broker.subscribe("bench-latency")
"""


def namespaced(kind: str, tag: str) -> str:
    option = {"nats": f"stream=B{tag.upper()}&subject=b{tag}", "redis": f"prefix=b{tag}"}.get(
        kind, f"exchange=b{tag}"
    )
    return f"{URLS[kind]}{'&' if '?' in URLS[kind] else '?'}{option}"


def event(n: int) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        type="bench.Happened",
        schema_version=1,
        data=b'{"n": %d, "note": "a payload of some fifty bytes or so"}' % n,
    )


def throughput(kind: str, events: int, folder: Path) -> float:
    """Events per second relayed from a store of `events` events, from the start."""
    store = open_store(f"sqlite:///{folder / f'{kind}-throughput.db'}")
    for start in range(0, events, 500):
        store.append(f"item-{start // 500}", [event(n) for n in range(start, start + 500)])
    broker = open_broker(namespaced(kind, uuid.uuid4().hex[:10]))
    try:
        started = time.perf_counter()
        report = Relay(store, broker, batch_size=1000).run()
        elapsed = time.perf_counter() - started
    finally:
        broker.close()
        store.close()
    assert report.published == events
    return events / elapsed


def latency(kind: str, count: int, rate: float, folder: Path) -> tuple[float, float]:
    """p50 and p99 (ms) from an append's return to a consumer process receiving the event."""
    url = namespaced(kind, uuid.uuid4().hex[:10])
    path = folder / f"{kind}-latency.db"
    store = open_store(f"sqlite:///{path}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, url], stdout=subprocess.PIPE, text=True, env=env
    )
    assert consumer.stdout is not None
    assert consumer.stdout.readline().strip() == "ready"
    relay = subprocess.Popen(
        [sys.executable, "-m", "histoire", "relay", "--to", url, "--store", f"sqlite:///{path}"],
        stderr=subprocess.DEVNULL,
        env=env,
    )
    received: dict[str, float] = {}

    def read() -> None:
        assert consumer.stdout is not None
        for line in consumer.stdout:
            event_id, at = line.split()
            received[event_id] = float(at)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    appended: dict[str, float] = {}
    try:
        warm = event(-1)  # one event through the whole chain first: everything is set up
        store.append("item-warm", [warm])
        deadline = time.monotonic() + 30
        while str(warm.event_id) not in received and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(count):
            new = event(n)
            store.append(f"item-{n % 50}", [new])
            appended[str(new.event_id)] = time.time()
            time.sleep(1 / rate)
        deadline = time.monotonic() + 30
        while len(received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.terminate()
        consumer.kill()
        relay.wait()
        consumer.wait()
        store.close()
    waits = sorted((received[i] - t) * 1000 for i, t in appended.items() if i in received)
    assert len(waits) == count, f"{count - len(waits)} events never reached the consumer"
    return statistics.median(waits), waits[min(len(waits) - 1, int(len(waits) * 0.99))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--brokers", default="nats,redis,rabbitmq")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="histoire-bench-relay-") as tmp:
        folder = Path(tmp)
        for kind in args.brokers.split(","):
            rate = throughput(kind, args.events, folder)
            p50, p99 = latency(kind, args.latency_events, args.rate, folder)
            if args.json:
                print(
                    json.dumps(
                        {
                            "broker": kind,
                            "events_per_s": round(rate),
                            "latency_ms": {"p50": round(p50, 2), "p99": round(p99, 2)},
                        }
                    )
                )
            else:
                print(f"{kind:9} relay {rate:9,.0f} events/s   append->consumer "
                      f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
