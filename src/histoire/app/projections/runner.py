"""Running a projection: catch up from its checkpoint, then follow the log live.

A transactional projection handles each batch in one transaction of the
store's database: the read-model rows and the checkpoint commit together, so
every event is applied exactly once, across crashes too. Other projections
record their checkpoint after their handlers succeeded: at least once.

A handler that raises stops the projection (never a silent skip): the events
before the failing one are committed with their checkpoint, and the failure
(event, error, traceback) is recorded for `status` to show. Running again
retries that event; `skip` tells the projection to pass over it, on record.

Given a `broker`, the runner reads the events from the broker's durable
subscription instead of the log (`histoire.app.broker_feed`), with the same
handlers: it drops what it applied already by each stream's version, recorded
in the same transaction as the read model (exactly once again for a
transactional projection), and acknowledges the messages after the commit.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from histoire.app.broker_feed import BrokerFeed
from histoire.app.follower import Batch, ConsumerGroup, Follower
from histoire.app.lag import record_stopped, stand_by
from histoire.app.projections import generations
from histoire.app.projections.context import ProjectionContext
from histoire.app.projections.definition import Projection
from histoire.brokers.protocol import Broker
from histoire.codec.codec import Codec
from histoire.core.errors import (
    HandlerError,
    HistoireError,
    InvalidInputError,
    StoreUnavailableError,
)
from histoire.core.recorded import START, Checkpoint, RecordedEvent
from histoire.store import applied, progress
from histoire.store.progress import FollowerKey
from histoire.store.protocol import EventStore
from histoire.store.transactions import Transaction, TransactionalStore

logger = logging.getLogger(__name__)

MAX_PAUSE = 5.0
"""Longest wait between two attempts of a live projection whose database is unavailable."""

HEARTBEAT = 2.0
"""Seconds between two progress records of an idle live projection (status: running)."""


@dataclass(slots=True)
class RunReport:
    """What one run of a projection did."""

    projection: str
    generation: int = 0
    handled: int = 0
    checkpoint: Checkpoint = START
    failure: HandlerError | None = None
    swapped: bool = False
    """Whether a new generation was built and swapped in."""


class _Failed(Exception):
    def __init__(self, events: list[RecordedEvent], index: int, error: BaseException) -> None:
        self.events = events
        self.index = index
        self.error = error


class _SentAhead(Exception):
    """A batch failed while writes were sent ahead: which event failed is not known."""


class _Stale(Exception):
    """Another process swapped generations, restarted the build, or moved this member's
    checkpoint (a second runner of it): plan again from what is recorded."""


class ProjectionRunner:
    """Catches a projection up and keeps it live, on one store, as one consumer-group member."""

    def __init__(
        self,
        store: EventStore,
        projection: Projection,
        *,
        codec: Codec | None = None,
        group: ConsumerGroup | None = None,
        batch_size: int = 500,
        on_batch: Callable[[RunReport, Batch], None] | None = None,
        broker: Broker | None = None,
    ) -> None:
        if not isinstance(store, TransactionalStore):
            raise InvalidInputError(
                f"{store.url}: this store cannot hold projection checkpoints (no transaction())"
            )
        self.store = store
        self.projection = projection
        self.codec = codec or projection.codec()
        missing = [
            t.type_name for t in projection.event_types if t.type_name not in self.codec.registry
        ]
        if missing:
            raise InvalidInputError(
                f"projection {projection.name!r} handles {', '.join(missing)}, "
                "which the codec does not know"
            )
        self.group = group or ConsumerGroup()
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.broker = broker
        self._handlers = projection.handlers
        self._batch_handlers = projection.batch_handlers
        # Every type to one batch handler: each batch is one run (no look at each event).
        alone = set(self._batch_handlers.values()) if not self._handlers else set()
        self._batch_handler = alone.pop() if len(alone) == 1 else None
        self._types = [t.type_name for t in projection.event_types]
        self._key: FollowerKey | None = None  # the member's progress being written

    def run(
        self,
        *,
        live: bool = False,
        stop: threading.Event | None = None,
        rebuild: bool = False,
    ) -> RunReport:
        """Catch up (and keep following if `live`, until `stop`); build and swap a new
        generation first when the version changed or `rebuild` is asked."""
        stop = stop or threading.Event()
        report = RunReport(self.projection.name)
        try:
            self._run(report, live=live, stop=stop, rebuild=rebuild)
        finally:
            record_stopped(self.store, self._key)
        return report

    def _run(self, report: RunReport, *, live: bool, stop: threading.Event, rebuild: bool) -> None:
        pause = 0.1
        while not stop.is_set():
            try:
                done = self._pass(report, live=live, stop=stop, rebuild=rebuild)
            except StoreUnavailableError as exc:
                if not live:
                    raise
                # The database is down or locked: wait and resume from the checkpoint.
                logger.warning(
                    "projection %s: %s; retrying in %.1f s", report.projection, exc, pause
                )
                stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            pause = 0.1
            if report.swapped:
                rebuild = False  # a rebuild asked for is over once swapped in
            if done:
                return

    def _pass(self, report: RunReport, *, live: bool, stop: threading.Event, rebuild: bool) -> bool:
        """Plan a generation and follow it; True when the run is over."""
        with self.store.transaction() as tx:
            plan = generations.plan(tx, self.projection, rebuild=rebuild)
            name = generations.follower_name(self.projection.name, plan.generation)
            key = self._key = FollowerKey(name, self.group.member, self.group.members)
            recorded = progress.load(tx, key)
            skips = progress.skipped(tx, name)
            if self.broker is not None:
                applied.ensure_table(tx)
        report.generation = plan.generation
        report.checkpoint = started_at = recorded.checkpoint if recorded else START
        follower: Follower | BrokerFeed
        if self.broker is None:
            follower = Follower(
                self.store,
                categories=self.projection.categories,
                types=self._types,
                group=self.group,
                batch_size=self.batch_size,
                envelope=False,  # read if a handler asks for an event's id, time or metadata
            )
        else:
            follower = BrokerFeed(
                self.broker,
                name,
                categories=self.projection.categories,
                types=self._types,
                group=self.group,
                batch_size=self.batch_size,
            )
        failing = recorded is not None and recorded.failed_event_id is not None
        try:
            for batch in follower.batches(
                report.checkpoint,
                live=live and not plan.building,
                stop=stop,
                heartbeat=HEARTBEAT,
            ):
                self._apply(batch, key, plan, skips, clear=failing, report=report)
                if isinstance(follower, BrokerFeed):
                    follower.settle(batch)
                failing = False
                if self.on_batch is not None:
                    self.on_batch(report, batch)
        except _Stale:
            if live and self._moved_by_another(key, report.checkpoint):
                stand_by(self.store, key, stop)  # rather than race it for every batch
            return False
        except _StopRun:
            return True
        if report.failure is not None or stop.is_set() or not plan.building:
            return True
        if self._swap(plan, key, started_at, report.checkpoint):
            report.swapped = True
            return not live
        time.sleep(0.2)  # other members of the group are still building
        return False

    def _moved_by_another(self, key: FollowerKey, ours: Checkpoint) -> bool:
        """Whether another runner of this member moved its checkpoint past `ours`."""
        with self.store.transaction(read_only=True) as tx:
            recorded = progress.load(tx, key)
        return recorded is not None and recorded.checkpoint != ours

    # -- one batch -------------------------------------------------------------

    def _apply(
        self,
        batch: Batch,
        key: FollowerKey,
        plan: generations.Plan,
        skips: set[str],
        *,
        clear: bool,
        report: RunReport,
    ) -> None:
        events = (
            [r for r in batch.events if str(r.event_id) not in skips] if skips else batch.events
        )
        start = report.checkpoint
        try:
            try:
                events = self._commit(batch, start, events, key, plan, clear=clear, defer=True)
            except _SentAhead:
                # A write sent ahead failed, or a handler raised while writes were in
                # flight: the batch was rolled back. Done again one statement at a
                # time, it fails (if it still does) at the right event, with its error.
                events = self._commit(batch, start, events, key, plan, clear=clear, defer=False)
        except _Failed as failed:
            if isinstance(failed.error, StoreUnavailableError):
                # The database went away under a handler (one of its statements, an
                # envelope read late): not the event's failure. The batch was rolled
                # back; a live run waits and redoes it from the checkpoint.
                raise failed.error from None
            self._record_failure(failed.events, failed, key, plan, report)
            raise _StopRun from None
        report.handled += len(events)
        report.checkpoint = batch.checkpoint

    def _commit(
        self,
        batch: Batch,
        start: Checkpoint,
        events: list[RecordedEvent],
        key: FollowerKey,
        plan: generations.Plan,
        *,
        clear: bool,
        defer: bool,
    ) -> list[RecordedEvent]:
        """Handle `events` and move the checkpoint from `start` to `batch`'s; the events handled."""
        transactional = self.projection.transactional
        redelivers = self.broker is not None
        if not transactional:
            if redelivers:
                with self.store.transaction(read_only=True) as tx:
                    events = applied.unapplied(tx, key.name, events)
            self._handle(events, ProjectionContext(None, self.projection.name, plan.generation))
        # The rows and the checkpoint are derived from the log and commit together:
        # a crash may lose the last batches whole, which are then simply redone.
        with self.store.transaction(durable=not transactional) as tx:
            if transactional and redelivers:
                events = applied.unapplied(tx, key.name, events)
            handled = events
            current = (self.projection.name, plan.generation, plan.building)

            def write() -> None:
                # The checkpoint first: it refuses a batch that another runner of this
                # member did already, or a generation no longer to be written.
                try:
                    moved = progress.advance(
                        tx, key, start, batch.checkpoint, len(handled), generation=current
                    )
                except StoreUnavailableError:
                    raise
                except HistoireError as exc:  # refused (a role's rights): stop, and say so
                    if not handled:
                        raise
                    raise _Failed(handled, 0, exc) from exc
                if not moved:
                    raise _Stale
                if transactional:
                    self._handle(
                        handled, ProjectionContext(tx, self.projection.name, plan.generation)
                    )
                if redelivers:
                    applied.mark(tx, key.name, handled)
                if clear:
                    progress.clear_failure(tx, key)

            if transactional and defer:
                self._sending_ahead(tx, write)
            else:
                write()
        return events

    def _sending_ahead(self, tx: Transaction, write: Callable[[], None]) -> None:
        """`write` (the checkpoint, then the handlers), its statements sent without waiting
        for each reply (PostgreSQL): BEGIN, the batch's writes, its checkpoint and COMMIT
        in one round trip."""
        sent_ahead = False
        try:
            with tx.deferring(commit=True) as sent_ahead:
                write()
        except Exception as exc:
            if sent_ahead:
                raise _SentAhead from exc
            raise

    def _handle(self, events: list[RecordedEvent], context: ProjectionContext) -> None:
        batch_handler = self._batch_handler
        if batch_handler is not None:  # the batch is the run (the follower took only its types)
            if events:
                context.record = events[0]
                try:
                    whole = list(zip(self.codec.decode_all(events), events, strict=True))
                except Exception as exc:  # an event that does not decode: that one fails
                    raise _Failed(events, self._undecodable(events), exc) from exc
                try:
                    batch_handler(whole, context)
                except Exception as exc:
                    raise _Failed(events, 0, exc) from exc
            return
        handlers = self._handlers
        batch_handlers = self._batch_handlers
        try:  # the batch at once (`decode_all`); if an event does not, one at a time
            decoded: list[Any] | None = self.codec.decode_all(events)
        except Exception:
            decoded = None
        decode = self.codec.decode
        index, count = 0, len(events)
        while index < count:
            record = events[index]
            context.record = record
            handler = handlers.get(record.type)
            if handler is not None:
                try:
                    handler(decode(record) if decoded is None else decoded[index], context)
                except Exception as exc:
                    raise _Failed(events, index, exc) from exc
                index += 1
                continue
            # A run of consecutive events that one batch handler takes, in log order.
            batch_handler = batch_handlers[record.type]
            start, run = index, list[tuple[object, RecordedEvent]]()
            take = run.append
            while index < count:
                record = events[index]
                if batch_handlers.get(record.type) is not batch_handler:
                    break
                try:
                    take((decode(record) if decoded is None else decoded[index], record))
                except Exception as exc:  # that event fails, not the run's first
                    raise _Failed(events, index, exc) from exc
                index += 1
            context.record = events[start]
            try:
                batch_handler(run, context)
            except Exception as exc:
                raise _Failed(events, start, exc) from exc

    def _undecodable(self, events: list[RecordedEvent]) -> int:
        """The index of the first of `events` that does not decode (0 if all do)."""
        decode = self.codec.decode
        for index, record in enumerate(events):
            try:
                decode(record)
            except Exception:
                return index
        return 0

    def _record_failure(
        self,
        events: list[RecordedEvent],
        failed: _Failed,
        key: FollowerKey,
        plan: generations.Plan,
        report: RunReport,
    ) -> None:
        record = events[failed.index]
        before = events[: failed.index]
        error = f"{type(failed.error).__name__}: {failed.error}"
        trace = "".join(traceback.format_exception(failed.error))
        current = (self.projection.name, plan.generation, plan.building)
        try:
            # The events before the failing one are applied again and kept, from the
            # checkpoint the batch started at (else another runner of this member
            # moved it: _Stale, plan again from what is recorded).
            with self.store.transaction() as tx:
                if before:
                    start, reached = report.checkpoint, before[-1].checkpoint
                    if not progress.advance(
                        tx, key, start, reached, len(before), generation=current
                    ):
                        raise _Stale
                    if self.projection.transactional:
                        self._handle(
                            before, ProjectionContext(tx, self.projection.name, plan.generation)
                        )
                    if self.broker is not None:
                        applied.mark(tx, key.name, before)
                progress.record_failure(tx, key, str(record.event_id), error, trace)
            if before:
                report.handled += len(before)
                report.checkpoint = before[-1].checkpoint
        except _Failed:
            with self.store.transaction() as tx:
                progress.record_failure(tx, key, str(record.event_id), error, trace)
        report.failure = HandlerError(
            f"projection {self.projection.name!r}",
            record.event_id,
            record.stream_id,
            record.version,
            error,
        )

    def _swap(
        self, plan: generations.Plan, key: FollowerKey, started_at: Checkpoint, reached: Checkpoint
    ) -> bool:
        """Swap the built generation in once every member has caught up this far."""
        with self.store.transaction() as tx:
            if not generations.still_current(tx, self.projection.name, plan):
                return True  # another member swapped it in
            progress.save(tx, key, reached, 0)  # caught up, even on an empty log
            name = generations.follower_name(self.projection.name, plan.generation)
            members = [
                p
                for p in progress.load_all(tx, name)
                if p.key.name == name and p.key.members == self.group.members
            ]
            if len(members) < self.group.members or any(p.checkpoint < started_at for p in members):
                return False
            generations.swap(tx, self.projection.name, plan.generation)
            return True


class _StopRun(Exception):
    pass
