"""A projection worker process for the tests: `python -m tests.integration.projection_worker URL`.

It runs the bank's `balances` view live until killed or sent SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

from histoire import ProjectionRunner, open_store
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.examples import bank
from histoire.examples.bank_views import balances


def main(url: str, schema: str | None) -> int:
    options = {"schema": schema} if schema else {}
    store = open_store(url, **options)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    codec = Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())
    runner = ProjectionRunner(store, balances, codec=codec, batch_size=50)
    print("running", flush=True)
    report = runner.run(live=True, stop=stop)
    store.close()
    print("stopped", report.handled, flush=True)
    return 0 if report.failure is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
