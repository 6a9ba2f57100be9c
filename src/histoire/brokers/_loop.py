"""A private asyncio event loop in a thread, behind blocking calls.

The NATS and AMQP clients are asyncio libraries; histoire's followers are
threads. Each broker object owns one loop thread and runs its coroutines
there, so that it works the same from any thread and never touches the
caller's own event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread of its own until `close`."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (TimeoutError after `timeout`)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        # Waited for apart from its result: a TimeoutError the coroutine raises itself
        # (a client's own timeout) is its outcome, not this wait's.
        done, _ = concurrent.futures.wait((future,), timeout)
        if not done:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout} s")
        return future.result()

    def close(self) -> None:
        """Cancel what still runs, stop the loop and wait for the thread."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()
