"""Event and command ids: UUIDv7, time-ordered, unique across threads and processes."""

from __future__ import annotations

import multiprocessing
import random
import sys
import time
import uuid

import pytest

from histoire.codec.ids import new_command_id, new_event_id


def test_ids_are_uuid7_and_ordered_by_time() -> None:
    """An id is a version 7 RFC 4122 UUID, and ids made a millisecond apart sort by time."""
    first = new_event_id()
    time.sleep(0.002)
    later = new_command_id()
    for value in (first, later):
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert first < later
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_ids_do_not_repeat() -> None:
    """200,000 ids made in a row are all different."""
    ids = {new_event_id() for _ in range(200_000)}
    assert len(ids) == 200_000


def test_a_users_seed_does_not_make_ids_repeat() -> None:
    """Seeding Python's random module (a test, a simulation) leaves the ids' bits alone."""
    random.seed(42)
    first = new_event_id().int & ((1 << 74) - 1)
    random.seed(42)
    second = new_event_id().int & ((1 << 74) - 1)
    assert first != second


def _ids_in_child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_event_id().int & ((1 << 62) - 1) for _ in range(100)])


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_does_not_draw_its_parents_ids() -> None:
    """A forked process makes other random bits than its parent goes on making."""
    new_event_id()  # the parent's generator is seeded before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_ids_in_child, args=(queue,))
    child.start()
    theirs = set(queue.get(timeout=30))
    child.join(timeout=30)
    ours = {new_event_id().int & ((1 << 62) - 1) for _ in range(100)}
    assert not ours & theirs
