"""The peer's projections (W10, W11): `eventsourcing.projection.ProjectionRunner`, as its docs show.

A `Projection` subclass dispatches each domain event (`@singledispatchmethod
process_event`) to a method of its materialised view, a `TrackingRecorder`
subclass that writes the balance row and the tracking record in one
transaction: one commit per event, which is how its runner applies events.
The runner is given the application class, the projection class, the view
class and the environment (`ProjectionRunner(application_class=Bank,
projection_class=..., view_class=..., env=...)`); the view lives in the same
database as the events (same SQLite file, same PostgreSQL schema).

Its runner needs the application recorder's `subscribe()`. In 9.5.6 the
PostgreSQL recorder has one (LISTEN/NOTIFY); the SQLite recorder raises
NotImplementedError. For the SQLite catch-up, `PollingSQLiteApplicationRecorder`
(selected with its `APPLICATION_RECORDER_TOPIC` setting) gives it a
subscription that pulls pages of 500 notifications, as its PostgreSQL one
does, and looks again every 10 ms at the head; a catch-up never waits there.
Live on SQLite (W11) it is not measured: the library cannot follow a SQLite
log.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import ApplicationRecorder, Notification, Subscription, Tracking
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder

from benchmarks.catchup import (
    EVENT,
    CatchUp,
    NotSupported,
    check_view,
    create_balances,
    expected_total,
    upsert_balance,
)
from benchmarks.common import AMOUNT_CENTS, CURRENCY, OWNER
from benchmarks.live import Appender, Collector
from benchmarks.probes import Probe

TABLE = "balances"
POLL_SECONDS = 0.01
CATCH_UP_TIMEOUT = 900.0


# -- what 9.5.6 lacks on SQLite: a subscription ------------------------------------------


class PollingSubscription(Subscription[ApplicationRecorder]):
    """Notifications after `gt`, pulled in pages of 500; polls every 10 ms at the head."""

    def __init__(self, recorder: Any, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._page: deque[Notification] = deque()

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            if self._page:
                return self._page.popleft()
            page = self._recorder.select_notifications(
                start=self._last_notification_id or 0,
                limit=500,
                topics=self._topics,
                inclusive_of_start=False,
            )
            if page:
                self._last_notification_id = page[-1].id
                self._page.extend(page)
            else:
                time.sleep(POLL_SECONDS)
        raise StopIteration


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


POLLING_RECORDER_TOPIC = f"{__name__}:PollingSQLiteApplicationRecorder"


# -- the materialised views ------------------------------------------------------------


class SQLiteBalances(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            create_balances(TABLE, if_not_exists=True),
        ]

    def upsert(self, account: str, cents: int, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(upsert_balance(TABLE, "?"), (account, cents))
            self._insert_tracking(cursor, tracking)

    def count_and_total(self) -> tuple[int, int]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT count(*), coalesce(sum(balance_cents), 0) FROM {TABLE}")
            row = cursor.fetchone()
            return int(row[0]), int(row[1])

    def reset(self) -> None:
        """Empty the view and forget the tracking records (the next round starts over)."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute("DELETE FROM tracking WHERE application_name != '__migration__'")


@functools.cache
def postgres_balances() -> type[Any]:
    """The PostgreSQL view class (made on first use: psycopg is only needed for PostgreSQL)."""
    from eventsourcing.postgres import PostgresTrackingRecorder
    from psycopg.sql import SQL

    class PostgresBalances(PostgresTrackingRecorder):
        def __init__(self, datastore: Any, **kwargs: Any) -> None:
            super().__init__(datastore, **kwargs)
            self.table = f'"{datastore.schema}"."{TABLE}"'
            self.sql_create_statements.append(SQL(create_balances(self.table, if_not_exists=True)))  # type: ignore[arg-type]
            self.upsert_sql = upsert_balance(self.table, "%s")

        def upsert(self, account: str, cents: int, tracking: Tracking) -> None:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(self.upsert_sql, (account, cents))
                self._insert_tracking(cursor, tracking)

        def count_and_total(self) -> tuple[int, int]:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    "SELECT count(*) AS n, coalesce(sum(balance_cents), 0) AS total "
                    f"FROM {self.table}"
                )
                row = cursor.fetchone()
                assert row is not None
                return int(row["n"]), int(row["total"])

        def reset(self) -> None:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DELETE FROM {self.table}")
                cursor.execute(
                    f'DELETE FROM "{self.datastore.schema}"."{self.tracking_table_name}" '
                    "WHERE application_name != '__migration__'"
                )

    return PostgresBalances


# -- the projection ----------------------------------------------------------------------


@functools.cache
def _balances() -> type[Any]:
    """The projection class (made on first use: the bank's aggregate imports this module)."""
    from benchmarks.systems_eventsourcing import BankAccount

    class Balances(Projection[Any]):
        """Balances per account; `applied(event, tracking)` is called after each commit."""

        name = "balances"
        applied: ClassVar[Callable[[Any, Tracking], None]]

        @singledispatchmethod
        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.insert_tracking(tracking)

        @process_event.register(BankAccount.Opened)  # type: ignore[attr-defined]
        def _opened(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.upsert(str(domain_event.originator_id), 0, tracking)
            type(self).applied(domain_event, tracking)

        @process_event.register(BankAccount.Deposited)  # type: ignore[attr-defined]
        def _deposited(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.upsert(str(domain_event.originator_id), domain_event.amount_cents, tracking)
            type(self).applied(domain_event, tracking)

    return Balances


def balances_class(applied: Callable[[Any, Tracking], None]) -> type[Any]:
    """A balances projection class calling `applied` (the runner makes the instance)."""
    return type("Balances", (_balances(),), {"name": "balances", "applied": staticmethod(applied)})


def reached(target: int) -> tuple[threading.Event, Callable[[Any, Tracking], None]]:
    """An event set, with the time, once the notification `target` is applied."""
    done = threading.Event()

    def applied(_event: Any, tracking: Tracking) -> None:
        if tracking.notification_id >= target and not done.is_set():
            done.set()

    return done, applied


# -- the system's side of W10 and W11 ----------------------------------------------------------


class EventsourcingProjections:
    """Mixed into EventsourcingSystem (which gives `kind`, `new_sqlite_path`, `new_pg_env`...)."""

    kind: str
    new_sqlite_path: Any
    new_pg_env: Any
    on_cleanup: Any

    def _projection_env(self, what: str, *, long: bool = False) -> dict[str, str]:
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "benchmarks.systems_eventsourcing:DurableSQLiteFactory",
                "SQLITE_DBNAME": str(self.new_sqlite_path(what, long=long)),
                "APPLICATION_RECORDER_TOPIC": POLLING_RECORDER_TOPIC,
            }
        env: dict[str, str] = self.new_pg_env(what, long=long)
        return env

    def _view_class(self) -> type[Any]:
        return SQLiteBalances if self.kind == "sqlite" else postgres_balances()

    def w10_prepare(self, streams: int, per_stream: int) -> None:
        from benchmarks.systems_eventsourcing import Bank, _account_with

        self.w10_env = self._projection_env("w10log", long=True)
        app = Bank(env=self.w10_env)
        try:
            for _ in range(streams):
                app.save(_account_with(per_stream))
        finally:
            app.close()
        self.w10_streams, self.w10_events = streams, streams * per_stream

    def w10_catch_up(self, mode: str, budget: int | None) -> CatchUp:
        from eventsourcing.projection import ProjectionRunner

        from benchmarks.systems_eventsourcing import Bank

        if mode != EVENT:
            raise NotSupported("eventsourcing's ProjectionRunner calls its projection per event")
        env, streams, events = self.w10_env, self.w10_streams, self.w10_events
        target = min(budget or events, events)
        done, applied = reached(target)
        projection_class, view_class = balances_class(applied), self._view_class()

        def run(probe: Probe) -> int:
            probe.start()
            with ProjectionRunner(
                application_class=Bank,
                projection_class=projection_class,
                view_class=view_class,
                env=env,
            ) as runner:
                deadline = time.monotonic() + CATCH_UP_TIMEOUT
                while not done.wait(0.05):
                    if runner.is_interrupted.is_set() or time.monotonic() > deadline:
                        runner.run_forever(timeout=0)  # raises the projection's error
                        raise TimeoutError(f"{target} events not applied in {CATCH_UP_TIMEOUT} s")
                probe.stop()
                view = runner.projection.view
            try:
                if target == events:
                    count, total = view.count_and_total()
                    check_view(count, total, streams, expected_total(events, streams, AMOUNT_CENTS))
            finally:
                view.reset()  # the next round starts from the start of the log again
                view.datastore.close()
            return target

        return run

    def w11_side(self) -> EventsourcingLive:
        from benchmarks.systems_eventsourcing import Bank

        if self.kind == "sqlite":
            raise NotSupported(
                "eventsourcing 9.5.6 cannot follow a SQLite log (its SQLite recorder has no "
                "subscribe())"
            )
        env = self._projection_env("live")
        Bank(env=env).close()  # its tables, before the appender and the runner start
        side = EventsourcingLive(env, self._view_class())
        self.on_cleanup(side.stop)
        return side


class EventsourcingLive:
    def __init__(self, env: dict[str, str], view_class: type[Any]) -> None:
        self.env = env
        self.view_class = view_class
        self.appender = (eventsourcing_appender, (env,))
        self.runner: Any = None

    def start(self, collector: Collector) -> None:
        from eventsourcing.projection import ProjectionRunner

        from benchmarks.systems_eventsourcing import Bank

        def applied(event: Any, _tracking: Tracking) -> None:
            now = time.time_ns()  # its view's transaction is committed
            collector.add(event.originator_version, _ns(event.timestamp), now)

        self.runner = ProjectionRunner(
            application_class=Bank,
            projection_class=balances_class(applied),
            view_class=self.view_class,
            env=self.env,
        )
        self.runner.__enter__()

    def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            try:
                runner.__exit__(None, None, None)
            finally:
                runner.projection.view.datastore.close()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ns(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def eventsourcing_appender(env: dict[str, str]) -> Appender:
    from benchmarks.systems_eventsourcing import Bank, BankAccount

    app = Bank(env=env)
    account = BankAccount(owner=OWNER, currency=CURRENCY)

    def append() -> None:
        account.deposit(AMOUNT_CENTS)  # the event's timestamp: the time it is sent
        app.save(account)

    return Appender(lambda: app.save(account), append, app.close)
