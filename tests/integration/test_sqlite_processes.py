"""SQLite: several processes appending to one file at once."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

from histoire import ConcurrencyError, open_store
from histoire.store.sqlite import SQLiteEventStore
from histoire.testing.contract import new_events

PROCESSES = 4
APPENDS = 40


def append_from_process(url: str, worker: int, start: Any, report: Any) -> None:
    """In a child process: open the store, then append to an own and a shared stream."""
    try:
        start.wait(timeout=60)
        store = open_store(url)
        try:
            for n in range(APPENDS):
                store.append(f"account-{worker}", new_events(1), n)
                store.append("shared-1", new_events(1))
                while True:
                    version = store.stream_version("contended-1")
                    try:
                        store.append("contended-1", new_events(1), version)
                        break
                    except ConcurrencyError:
                        continue
        finally:
            store.close()
        report.put((worker, None))
    except BaseException:
        report.put((worker, traceback.format_exc()))


def test_several_processes_append_to_one_file_at_once(tmp_path: Path) -> None:
    """Processes that create and write one store together all succeed, with a right count."""
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    report = context.Queue()
    children = [
        context.Process(target=append_from_process, args=(url, worker, start, report))
        for worker in range(PROCESSES)
    ]
    for child in children:
        child.start()
    start.set()
    outcomes = dict(report.get(timeout=240) for _ in children)
    for child in children:
        child.join(timeout=60)
    failures = {worker: error for worker, error in outcomes.items() if error is not None}
    assert failures == {}
    assert all(child.exitcode == 0 for child in children)
    assert not any("locked" in (error or "") for error in outcomes.values())

    with SQLiteEventStore(path, create=False) as store:
        log = list(store.read_log())
        assert len(log) == PROCESSES * APPENDS * 3
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        for worker in range(PROCESSES):
            assert store.stream_version(f"account-{worker}") == APPENDS
        shared = [e.version for e in store.read_stream("shared-1")]
        assert shared == list(range(1, PROCESSES * APPENDS + 1))
        assert store.stream_version("contended-1") == PROCESSES * APPENDS
        assert store.integrity_problems() == []
