"""Closing a store while other threads append, read and wait: shared by the backends' tests."""

from __future__ import annotations

import threading
import time
import uuid

from histoire import START, EventStore, StoreError
from histoire.testing.contract import new_events


def close_under_load(store: EventStore, reopened: EventStore) -> None:
    """close() from the main thread while 3 threads append and read and one waits: no
    crash, each thread ends with StoreError, every append that returned is stored."""
    stored: list[str] = []
    errors: list[BaseException] = []
    run = uuid.uuid4().hex[:8]

    def write(thread: int) -> None:
        try:
            for n in range(100_000):
                stream = f"closing-{run}-{thread}-{n}"
                store.append(stream, new_events(2))
                stored.append(stream)
                assert len(list(store.read_stream(stream))) == 2
        except StoreError as exc:
            errors.append(exc)

    def wait() -> None:
        try:
            while True:
                store.wait_for_events(store.head(), timeout=0.01)
                for _ in store.read_log(START, limit=50):
                    pass
        except StoreError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=wait))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(stored) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.close()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert len(errors) == 4 and all("closed" in str(error) for error in errors), errors
    assert len(stored) >= 30
    for stream in stored:
        assert reopened.stream_version(stream) == 2
