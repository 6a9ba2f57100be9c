"""A store opened before a fork (gunicorn --preload, Celery prefork, multiprocessing's fork
start method): each child gets connections of its own, and the parent's keep working."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from histoire import EventStore, open_store
from histoire.testing.contract import new_events

from .._services import fresh_postgres_schema, postgres_url_or_skip

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")

CHILDREN = 3
APPENDS = 40


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EventStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"
        return lambda: open_store(url)
    url = postgres_url_or_skip()
    schema = fresh_postgres_schema(url)
    return lambda: open_store(url, schema=schema, pool_min=2)


def in_child(store: EventStore, child: int) -> int:
    """A child's work on the inherited store; its exit status (0: all went well)."""
    try:
        for n in range(APPENDS):
            stream = f"child{child}-{n}"
            store.append(stream, new_events(1))
            assert [r.version for r in store.read_stream(stream)] == [1]
        store.close()
        return 0
    except BaseException as exc:  # reported through the exit status
        print(f"child {child}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def wait_for(pid: int, timeout: float) -> int | str:
    """A child's exit code; killed and said so if it did not end within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return f"still running after {timeout} s (killed)"


def test_children_forked_with_a_store_open_use_it_and_the_parent_keeps_its_own(
    opener: Callable[[], EventStore],
) -> None:
    store = opener()
    store.append("parent-0", new_events(1))  # connections open, pooled, before the fork
    # A thread of the parent appends across the fork: a lock or a batch it holds then
    # must not stop a child.
    stop = threading.Event()
    appended: list[str] = []

    def parent_appends() -> None:
        while not stop.is_set():
            stream = f"parent-{len(appended) + 1}"
            store.append(stream, new_events(1))
            appended.append(stream)

    thread = threading.Thread(target=parent_appends)
    thread.start()
    children = []
    try:
        for child in range(CHILDREN):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os._exit(in_child(store, child))
            children.append(pid)
        statuses = [wait_for(pid, timeout=60) for pid in children]
    finally:
        stop.set()
        thread.join()
    assert statuses == [0] * CHILDREN
    # The parent's connections were left alone by the children (even by their close()).
    store.append("parent-after", new_events(2))
    streams = {info.stream_id for info in store.list_streams()}
    assert {f"child{c}-{n}" for c in range(CHILDREN) for n in range(APPENDS)} <= streams
    assert {"parent-0", "parent-after", *appended} <= streams
    assert store.stream_version("parent-after") == 2
    store.close()
