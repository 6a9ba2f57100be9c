"""SQLite: processes appending to one file take turns; none waits while another keeps writing.

Before writers took turns, two processes appending in a loop to one stream
handed the lock over 3 to 16 times in 4,000 appends: one of them wrote 1,000 to
2,000 events in a row while the other waited.
"""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest

from histoire import open_store
from histoire.testing.contract import new_events

APPENDS = 1000


def append_in_a_loop(url: str, writer: int, ready: Any, start: Any, report: Any) -> None:
    """In a child process: append APPENDS single events to one shared stream, as fast as it can."""
    try:
        store = open_store(url)
        ready.put(writer)
        start.wait(timeout=60)
        try:
            for _ in range(APPENDS):
                store.append("shared-1", new_events(1, type=f"writer{writer}.Appended"))
        finally:
            store.close()
        report.put((writer, None))
    except BaseException:
        report.put((writer, traceback.format_exc()))


def runs(sequence: list[str]) -> list[int]:
    """The lengths of the runs of equal items in `sequence`, in order."""
    lengths: list[int] = []
    for i, item in enumerate(sequence):
        if i and item == sequence[i - 1]:
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


@pytest.mark.slow
def test_two_processes_appending_to_one_stream_take_turns(tmp_path: Path) -> None:
    """While both processes still have appends to make, neither writes more than half of its
    appends in a row (the last run, after the other has finished, aside)."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    open_store(url).close()
    context = multiprocessing.get_context("spawn")
    ready, report = context.Queue(), context.Queue()
    start = context.Event()
    children = [
        context.Process(target=append_in_a_loop, args=(url, writer, ready, start, report))
        for writer in range(2)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=120)
    start.set()
    outcomes = dict(report.get(timeout=240) for _ in children)
    for child in children:
        child.join(timeout=60)
    assert {w: e for w, e in outcomes.items() if e is not None} == {}

    store = open_store(url, read_only=True)
    try:
        writers = [event.type for event in store.read_stream("shared-1")]
    finally:
        store.close()
    assert len(writers) == 2 * APPENDS
    lengths = runs(writers)
    while_both_write = lengths[:-1]
    assert max(while_both_write) <= APPENDS // 2, (
        f"one process wrote {max(while_both_write)} events in a row while the other waited; "
        f"{len(lengths) - 1} hand-overs in {2 * APPENDS} appends"
    )
