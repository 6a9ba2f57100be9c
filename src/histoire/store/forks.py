"""Stores opened before a fork: the child gets connections of its own.

A process that opens a store and then forks (gunicorn with `--preload`,
Celery's prefork pool, `multiprocessing` with the fork start method) gives
its children copies of the store's connections, locks and pool threads' state.
The threads do not survive the fork (a PostgreSQL pool then waits forever
for a connection its workers would have made), and a lock another thread
held at that moment stays held. So, in the child, every open store drops
what it inherited, without closing it (a connection closed in the child
would end its parent's session, or run SQLite's close logic on the
parent's files), and opens its own on the spot.

What was inherited is kept here, never used and never freed, for the
child's life.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Forkable(Protocol):
    def _before_fork(self) -> None:
        """Finish what is under way that a child must not inherit half done (SQLite's
        write transaction: its lock would stay taken in the child), and start nothing."""
        ...

    def _after_fork_in_parent(self) -> None:
        """Go on after `_before_fork`."""
        ...

    def _after_fork_in_child(self) -> list[Any]:
        """Open new connections in place of the inherited ones; the inherited objects."""
        ...


_stores: weakref.WeakSet[Any] = weakref.WeakSet()
_inherited: list[Any] = []
_lock = threading.Lock()
_hooked = False


def reopen_after_fork(store: Forkable) -> None:
    """Have `store` open connections of its own in a forked child (see the module doc)."""
    global _hooked
    with _lock:
        if not _hooked and hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=_before, after_in_parent=_in_parent, after_in_child=_in_child
            )
            _hooked = True
        _stores.add(store)


_paused: list[Any] = []


def _before() -> None:
    with _lock:
        stores = list(_stores)
    for store in stores:
        store._before_fork()
        _paused.append(store)


def _in_parent() -> None:
    while _paused:
        _paused.pop()._after_fork_in_parent()


def _in_child() -> None:
    _paused.clear()
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for store in list(_stores):
        try:
            _inherited.append(store._after_fork_in_child())
        except Exception:  # the store then fails on use, with its own error
            logger.exception("reopening %r in a forked child", store)
