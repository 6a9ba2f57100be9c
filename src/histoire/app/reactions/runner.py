"""Running a reaction: deliver each event once it is stored, retry, park, keep each stream's order.

The reaction follows the log like a projection (same follower, checkpoints,
consumer groups and worker). Its handlers cause side effects and commands,
outside any transaction of ours: delivery is at least once, and the
checkpoint is recorded after a batch was delivered.

A failing event does not stop the reaction. The event is recorded as
`retrying` (histoire.store.parking) and tried again after a backoff; the
later events of its stream are recorded as `waiting` behind it, so that the
stream's order holds; the checkpoint and the other streams go on. After the
reaction's `max_attempts` the event is `parked` until someone retries or
skips it (`histoire reactions retry|skip`); the stream then resumes, in order.

Given a `broker`, the runner reads the events from the broker's durable
subscription (`histoire.app.broker_feed`) with the same handlers, drops
those it delivered already (each stream's version, recorded with the
checkpoint) and acknowledges the messages once the batch is recorded. A
parked event is retried from the store: it must hold the events.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from histoire.app.broker_feed import BrokerFeed
from histoire.app.follower import Batch, ConsumerGroup, Follower
from histoire.app.handler import CommandHandler
from histoire.app.lag import keep_trying, stand_by
from histoire.app.reactions.context import DEADLINES, ReactionContext
from histoire.app.reactions.deadlines import make_deadlines
from histoire.app.reactions.definition import Reaction
from histoire.brokers.protocol import Broker
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.core.errors import InvalidInputError, StoreUnavailableError
from histoire.core.recorded import START, Checkpoint, RecordedEvent
from histoire.store import applied, parking, progress
from histoire.store.parking import Entry
from histoire.store.progress import FollowerKey
from histoire.store.protocol import EventStore
from histoire.store.transactions import Transaction, TransactionalStore

if TYPE_CHECKING:  # the application module imports the reactions' definitions
    from histoire.app.application import Application

logger = logging.getLogger(__name__)


class _Moved(Exception):
    """Another runner of the member moved the checkpoint: the batch is not recorded."""


RETRY_TICK = 0.5
"""Seconds between two looks at due retries while the log is idle."""


def follower_name(reaction: str) -> str:
    """The name a reaction records its progress and parked events under."""
    return f"reaction:{reaction}"


@dataclass(slots=True)
class ReactionReport:
    """What one run of a reaction did."""

    reaction: str
    handled: int = 0
    """Events delivered successfully (retried ones included)."""
    failed_attempts: int = 0
    parked: int = 0
    """Events that used their last attempt and were parked during this run."""
    checkpoint: Checkpoint = START
    errors: list[str] = field(default_factory=list)

    @property
    def failure(self) -> None:
        """A reaction never stops on a failing event (it parks it): always None."""
        return None


class ReactionRunner:
    """Delivers a reaction's events, as one consumer-group member, with retries and parking."""

    def __init__(
        self,
        store: EventStore,
        reaction: Reaction,
        *,
        app: Application | None = None,
        handlers: Mapping[str, CommandHandler[Any, Any, Any]] | None = None,
        codec: Codec | None = None,
        group: ConsumerGroup | None = None,
        batch_size: int = 100,
        draw: Callable[[], float] = random.random,
        broker: Broker | None = None,
    ) -> None:
        if not isinstance(store, TransactionalStore):
            raise InvalidInputError(
                f"{store.url}: this store cannot hold reaction checkpoints (no transaction())"
            )
        self.store = store
        self.reaction = reaction
        self.app = app
        self.codec = codec or (app.codec() if app else Codec(EventRegistry(reaction.event_types)))
        unknown = [
            t.type_name for t in reaction.event_types if t.type_name not in self.codec.registry
        ]
        if unknown:
            raise InvalidInputError(
                f"reaction {reaction.name!r} handles {', '.join(unknown)}, "
                "which the codec does not know"
            )
        self._command_handlers: dict[str, CommandHandler[Any, Any, Any]] = dict(handlers or {})
        self.group = group or ConsumerGroup()
        self.batch_size = batch_size
        self._draw = draw
        self.broker = broker
        self._handlers = reaction.handlers
        self.name = follower_name(reaction.name)

    # -- running ------------------------------------------------------------------

    def run(self, *, live: bool = False, stop: threading.Event | None = None) -> ReactionReport:
        """Deliver the events after the checkpoint (and keep following if `live`, until `stop`),
        and the due retries."""
        stop = stop or threading.Event()
        report = ReactionReport(self.reaction.name)
        key = FollowerKey(self.name, self.group.member, self.group.members)

        def attempt() -> bool:
            if self._follow(report, key, live=live, stop=stop):
                return True
            # Another runner of this member moved the checkpoint: the batch was delivered
            # twice. Live, stand by while it runs, rather than deliver every batch twice.
            if live:
                stand_by(self.store, key, stop)
            return False

        keep_trying(f"reaction {self.reaction.name}", attempt, live=live, stop=stop)
        return report

    def _follow(
        self, report: ReactionReport, key: FollowerKey, *, live: bool, stop: threading.Event
    ) -> bool:
        """Follow from the recorded checkpoint; False if another runner of the member moved it."""
        with self.store.transaction() as tx:
            progress.ensure_tables(tx)
            parking.ensure_table(tx)
            if broker_fed := self.broker is not None:
                applied.ensure_table(tx)
            recorded = progress.load(tx, key)
            blocked = {
                e.stream_id for e in parking.entries(tx, self.name) if self.group.owns(e.stream_id)
            }
        report.checkpoint = recorded.checkpoint if recorded else START
        follower: Follower | BrokerFeed
        if self.broker is None:
            follower = Follower(
                self.store,
                categories=self.reaction.categories,
                types=list(self._handlers),
                group=self.group,
                batch_size=self.batch_size,
            )
        else:
            follower = BrokerFeed(
                self.broker,
                self.name,
                categories=self.reaction.categories,
                types=list(self._handlers),
                group=self.group,
                batch_size=self.batch_size,
            )
        self._retry_due(blocked, report)
        for batch in follower.batches(
            report.checkpoint, live=live, stop=stop, heartbeat=RETRY_TICK
        ):
            self._retry_due(blocked, report)
            events = batch.events
            if broker_fed and events:
                with self.store.transaction(read_only=True) as tx:
                    events = applied.unapplied(tx, self.name, events)
            behind: list[tuple[RecordedEvent, dict[str, Any]]] = []
            for record in events:
                if record.stream_id in blocked:
                    behind.append((record, {"state": "waiting"}))
                    continue
                failed = self._deliver(record, report)
                if failed is None:
                    continue
                behind.append((record, self._after_failure(0, failed)))
                blocked.add(record.stream_id)
            try:
                with self.store.transaction() as tx:
                    self._record(tx, key, batch, report.checkpoint, events, behind)
            except _Moved:
                return False
            if isinstance(follower, BrokerFeed):
                follower.settle(batch)
            report.parked += sum(1 for _, f in behind if f["state"] == "parked")
            report.checkpoint = batch.checkpoint
        return True

    def _record(
        self,
        tx: Transaction,
        key: FollowerKey,
        batch: Batch,
        start: Checkpoint,
        events: list[RecordedEvent],
        behind: list[tuple[RecordedEvent, dict[str, Any]]],
    ) -> None:
        """Record a delivered batch: what waits or is parked, and the checkpoint, from `start`."""
        if not progress.advance(tx, key, start, batch.checkpoint, len(events)):
            raise _Moved
        for record, fields in behind:
            parking.add(
                tx, self.name, record.stream_id, str(record.event_id), record.checkpoint, **fields
            )
        if self.broker is not None:
            applied.mark(tx, self.name, events)

    # -- delivering ---------------------------------------------------------------

    def _deliver(self, record: RecordedEvent, report: ReactionReport) -> tuple[str, str] | None:
        """Run the handler on `record`; None on success, else (error, traceback)."""
        context = ReactionContext(self.reaction.name, record, self._command_handler)
        try:
            self._handlers[record.type](self.codec.decode(record), context)
        except StoreUnavailableError:
            # The database is down or restarting under the handler (its command, say):
            # not the event's failure, no attempt counted. A live run waits and delivers
            # again from the recorded checkpoint (at least once, as after a crash).
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            report.failed_attempts += 1
            report.errors.append(f"{record.stream_id}@{record.version}: {error}")
            logger.warning(
                "reaction %s failed on %s (%s@%d): %s",
                self.reaction.name,
                record.event_id,
                record.stream_id,
                record.version,
                error,
            )
            return error, "".join(traceback.format_exception(exc))
        report.handled += 1
        return None

    def _after_failure(self, attempts_before: int, failed: tuple[str, str]) -> dict[str, Any]:
        attempts = attempts_before + 1
        if attempts >= self.reaction.max_attempts:
            state, next_at = "parked", None
        else:
            state = "retrying"
            wait = self.reaction.delay(attempts, self._draw)
            next_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        return {
            "state": state,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "error": failed[0],
            "traceback": failed[1],
        }

    def _retry_due(self, blocked: set[str], report: ReactionReport) -> None:
        """Try the due retries, and deliver what waited behind those that succeed."""
        if not blocked:
            return
        with self.store.transaction(read_only=True) as tx:
            pending = [e for e in parking.entries(tx, self.name) if e.stream_id in blocked]
        by_stream: dict[str, list[Entry]] = {}
        for entry in pending:
            by_stream.setdefault(entry.stream_id, []).append(entry)
        now = dt.datetime.now(dt.UTC)
        for stream_id in list(blocked):
            for entry in by_stream.get(stream_id, []):
                if not self._settle(entry, now, report):
                    break
            else:
                blocked.discard(stream_id)

    def _settle(self, entry: Entry, now: dt.datetime, report: ReactionReport) -> bool:
        """Deal with the first entry of a stream; True if the stream may go on past it."""
        if entry.state == "parked":
            return False
        if (
            entry.state == "retrying"
            and entry.next_attempt_at is not None
            and (entry.next_attempt_at > now)
        ):
            return False
        if entry.state != "skipped":
            record = self.store.get_event(uuid.UUID(entry.event_id))
            failed = None if record is None else self._deliver(record, report)
            if failed is not None:
                fields = self._after_failure(entry.attempts, failed)
                with self.store.transaction() as tx:
                    parking.update(tx, self.name, entry.event_id, **fields)
                report.parked += fields["state"] == "parked"
                return False
        with self.store.transaction() as tx:
            parking.remove(tx, self.name, entry.event_id)
        return True

    def _command_handler(self, decider: str) -> CommandHandler[Any, Any, Any]:
        handler = self._command_handlers.get(decider)
        if (
            handler is None
            and decider == DEADLINES
            and (self.app is None or all(d.name != DEADLINES for d in self.app.deciders))
        ):
            handler = self._command_handlers[decider] = CommandHandler(self.store, make_deadlines())
        if handler is None:
            if self.app is None:
                raise InvalidInputError(
                    f"reaction {self.reaction.name!r} issues a command to {decider!r}: "
                    "give the runner the application (app=...) or handlers={...}"
                )
            handler = self._command_handlers[decider] = self.app.handler(decider, self.store)
        return handler
