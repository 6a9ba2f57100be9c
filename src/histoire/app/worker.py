"""The worker: runs several followers side by side until told to stop.

Each follower (a projection runner today; reactions and the relay share the
same shape) runs in its own thread. A follower that fails stops alone, with
its failure recorded; the others go on. On stop, each finishes the batch in
hand, commits it and returns: nothing is half done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from histoire.core.errors import HandlerError

logger = logging.getLogger(__name__)


class Report(Protocol):
    """What a follower's run returns."""

    @property
    def failure(self) -> HandlerError | None: ...


class Runnable(Protocol):
    """A follower the worker can run."""

    def run(self, *, live: bool = ..., stop: threading.Event | None = ...) -> Report: ...


class Worker:
    """Runs followers in threads, live or as one catch-up, until `stop` is set."""

    def __init__(self, followers: Sequence[tuple[str, Runnable]], *, live: bool = True) -> None:
        self.followers = list(followers)
        self.live = live
        self.reports: dict[str, Report] = {}
        self.crashes: dict[str, BaseException] = {}
        self.failed = False

    def run(self, stop: threading.Event) -> bool:
        """Run every follower; True when none failed."""
        threads = [
            threading.Thread(target=self._run_one, args=(name, follower, stop), name=name)
            for name, follower in self.followers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            # join with a timeout, so that the main thread still takes signals
            while thread.is_alive():
                thread.join(0.2)
        failures = [r.failure for r in self.reports.values() if r.failure is not None]
        self.failed = bool(failures or self.crashes)
        return not self.failed

    def _run_one(self, name: str, follower: Runnable, stop: threading.Event) -> None:
        try:
            report = follower.run(live=self.live, stop=stop)
        except Exception as exc:  # a store error: say which follower, let the others go on
            logger.error("%s stopped: %s", name, exc, exc_info=True)
            self.crashes[name] = exc
            return
        self.reports[name] = report
        if report.failure is not None:
            logger.error("%s stopped: %s", name, report.failure)
