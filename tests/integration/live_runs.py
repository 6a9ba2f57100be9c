"""Running a runner live in a thread until a condition holds (tests of live runs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def live_until(
    run: Callable[[threading.Event], Any], done: Callable[[], bool], timeout: float = 20
) -> Any:
    """`run(stop)` in a thread until `done()` or `timeout` seconds; then stop it and give
    what it returned (None if it did not return in time)."""
    stop = threading.Event()
    returned: list[Any] = []
    thread = threading.Thread(target=lambda: returned.append(run(stop)))
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=timeout)
    return returned[0] if returned else None
