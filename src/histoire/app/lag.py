"""How far behind the head of the log a follower is: in events, in seconds, and its state."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import NamedTuple

from histoire.core.errors import HistoireError, StoreUnavailableError
from histoire.core.recorded import Checkpoint
from histoire.store import progress
from histoire.store.progress import FollowerKey, Progress
from histoire.store.protocol import EventStore
from histoire.store.transactions import TransactionalStore

logger = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(seconds=10)
"""A follower whose progress is older than this and not at the head is `stopped`."""


class Lag(NamedTuple):
    """A checkpoint's distance to the head."""

    events: int
    """How many events of the log lie past the checkpoint (by positions)."""
    seconds: float
    """How old the oldest event past the checkpoint is (0 when caught up)."""


def lag(store: EventStore, checkpoint: Checkpoint, head: Checkpoint, now: dt.datetime) -> Lag:
    """How far `checkpoint` is behind `head`."""
    seconds = 0.0
    if checkpoint < head:
        first = next(iter(store.read_log(checkpoint, limit=1)), None)
        if first is not None:
            seconds = max((now - first.recorded_at).total_seconds(), 0.0)
    return Lag(max(head.position - checkpoint.position, 0), seconds)


def record_stopped(store: TransactionalStore, key: FollowerKey | None) -> None:
    """Record that `key`'s runner ended cleanly, so that status stops saying it runs.

    Best effort: if it cannot be written (the database unavailable), status
    says so once the last progress is old (`STALE_AFTER`), as after a kill.
    """
    if key is None:
        return
    try:
        with store.transaction() as tx:
            progress.stopped(tx, key)
    except HistoireError as exc:  # also on the way out of a failed run: never hide its error
        logger.warning("%s: could not record the stop: %s", key.name, exc)


STANDBY_LOOK = 1.0
"""Seconds between two looks of a standing-by runner at the active one's progress."""


def stand_by(store: TransactionalStore, key: FollowerKey, stop: threading.Event) -> None:
    """Wait while another runner of `key` runs (until its progress is old, or it ended).

    Called by a live runner whose checkpoint write was refused because another
    runner of the same member moved the checkpoint: rather than race it for
    every batch (a reaction's side effects done twice), it stands by, and
    takes over once the other stops making progress (`STALE_AFTER`; an idle
    live runner records its heartbeat every few seconds) or ends.
    """
    said = False
    while not stop.is_set():
        with store.transaction(read_only=True) as tx:
            record = progress.load(tx, key)
        now = dt.datetime.now(dt.UTC)
        if record is None or not _running(record, now):
            if said:
                logger.warning("%s: the other runner stopped; taking over", _member(key))
            return
        if not said:
            logger.warning("%s: another runner is active; standing by", _member(key))
            said = True
        stop.wait(STANDBY_LOOK)


FIRST_PAUSE = 0.1
"""First wait of a live runner or follower before it tries a database that is down again."""
MAX_PAUSE = 5.0
"""Longest wait of a live runner or follower between two tries of a database that is down."""


def waiting(name: str, exc: StoreUnavailableError, pause: float) -> float:
    """Log that `name` waits `pause` seconds for its database; the wait after (doubled, capped)."""
    logger.warning("%s: %s; retrying in %.1f s", name, exc, pause)
    return min(pause * 2, MAX_PAUSE)


def keep_trying(
    name: str, attempt: Callable[[], bool], *, live: bool, stop: threading.Event
) -> None:
    """Call `attempt` until it returns True, or `stop` is set after one returned False.

    Live, a StoreUnavailableError (the database down, restarting or locked)
    does not end the run: the runner waits, with backoff, and tries again
    from its recorded checkpoint. A catch-up (not live) raises it.
    """
    pause = FIRST_PAUSE
    while True:
        try:
            if attempt():
                return
            pause = FIRST_PAUSE
        except StoreUnavailableError as exc:
            if not live or stop.is_set():
                raise
            pause, waited = waiting(name, exc, pause), pause
            stop.wait(waited)
        if stop.is_set():
            return


def _member(key: FollowerKey) -> str:
    return key.name if key.members == 1 else f"{key.name} (member {key.member} of {key.members})"


def _running(record: Progress, now: dt.datetime) -> bool:
    """Whether a runner of `record`'s member made progress lately and has not ended since."""
    return (
        record.failed_event_id is None
        and record.stopped_at is None
        and now - record.updated_at < STALE_AFTER
    )


def follower_state(
    record: Progress | None, checkpoint: Checkpoint, head: Checkpoint, now: dt.datetime
) -> str:
    """`failing`, `running` (recent progress, not ended since), `caught up` or `stopped`."""
    if record is not None and record.failed_event_id is not None:
        return "failing"
    if record is not None and _running(record, now):
        return "running"
    if checkpoint >= head:
        return "caught up"
    return "stopped"
