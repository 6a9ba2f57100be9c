"""Bells: other threads complete a loop's futures (eventfd on Linux, else call_soon_threadsafe)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from histoire.store import loop_bells
from histoire.store.loop_bells import EventfdBell, SoonBell, bell_for
from histoire.store.sqlite.async_store import AsyncSQLiteEventStore
from histoire.testing.contract import new_events

BELLS = [SoonBell] + ([EventfdBell] if hasattr(os, "eventfd") else [])


@pytest.mark.parametrize("make", BELLS)
def test_a_ring_from_another_thread_completes_the_future(make: type) -> None:
    """Futures rung from other threads, one by one and many at once, complete on the loop."""

    async def scenario() -> None:
        bell = make(asyncio.get_running_loop())
        try:
            for _ in range(50):
                futures = [asyncio.get_running_loop().create_future() for _ in range(3)]
                rings = [threading.Thread(target=bell.ring, args=(f,)) for f in futures]
                for ring in rings:
                    ring.start()
                await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
                for ring in rings:
                    ring.join()
        finally:
            bell.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("make", BELLS)
def test_a_cancelled_future_is_left_alone(make: type) -> None:
    """Ringing a future whose awaiting task was cancelled does nothing (no InvalidStateError)."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        bell = make(loop)
        cancelled, live = loop.create_future(), loop.create_future()
        cancelled.cancel()
        thread = threading.Thread(target=lambda: (bell.ring(cancelled), bell.ring(live)))
        thread.start()
        await asyncio.wait_for(live, timeout=5)
        thread.join()
        assert cancelled.cancelled()
        bell.close()

    asyncio.run(scenario())


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="eventfd is Linux's")
def test_closing_an_eventfd_bell_completes_what_was_rung_and_ignores_later_rings() -> None:
    """A bell closed on its loop completes the futures rung before (the loop had not looked
    yet); a ring after the close writes nothing and raises nothing."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        bell = EventfdBell(loop)
        rung = loop.create_future()
        thread = threading.Thread(target=bell.ring, args=(rung,))
        thread.start()
        thread.join()  # rung, but the loop has not had a turn: not yet completed
        bell.close()
        assert rung.done()
        late = loop.create_future()
        bell.ring(late)
        await asyncio.sleep(0.01)
        assert not late.done()
        bell.close()  # twice: nothing

    asyncio.run(scenario())


def test_without_eventfd_the_bell_is_call_soon_threadsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where os.eventfd does not exist, bell_for falls back to call_soon_threadsafe."""
    monkeypatch.delattr(loop_bells.os, "eventfd", raising=False)

    async def scenario() -> None:
        assert isinstance(bell_for(asyncio.get_running_loop()), SoonBell)

    asyncio.run(scenario())


def test_an_async_sqlite_store_serves_one_loop_after_another(tmp_path: Path) -> None:
    """A store whose first loop has ended appends from the next one, and a store used from
    two live loops at once (two threads) wakes both loops' tasks."""
    store = AsyncSQLiteEventStore(tmp_path / "events.db")

    async def append(stream: str, count: int) -> None:
        for n in range(count):
            await asyncio.wait_for(store.append(f"{stream}-{n}", new_events(1)), timeout=10)

    asyncio.run(append("first", 5))
    if hasattr(os, "eventfd"):
        assert isinstance(store._bell, EventfdBell)  # the cheap wake is the one used
    asyncio.run(append("second", 5))
    threads = [
        threading.Thread(target=asyncio.run, args=(append(f"thread{t}", 20),)) for t in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    async def close() -> None:
        assert len([s async for s in store.list_streams()]) == 50
        await store.aclose()

    asyncio.run(close())
