"""The peer: the `eventsourcing` library (9.5.6), used the way its documentation shows.

- Commands (W1-W3): an `Application` with an `Aggregate` (`@event` methods); the
  application loads the aggregate from its repository, calls a method, saves.
  No aggregate cache (its default), like histoire, which loads every time.
- W4: its application recorder's `insert_events`, 100 `StoredEvent`s per call
  (made beforehand by the application's mapper, outside the clock).
- W5: `app.repository.get(id)`; with snapshots: `snapshotting_intervals = {BankAccount: 100}`.
- W6: `recorder.select_notifications(...)` in batches plus `mapper.to_domain_event`
  (what its followers do); the table view is a `TrackingRecorder` subclass
  (its "materialised view") writing the rows and the tracking record in one
  transaction per batch. Its SQLite recorder has no subscriptions, and its
  `ProcessApplication` commits once per event, so batches are the fair peer.
- W8 (PostgreSQL): a `Bank` per writer process (see pg_writers.py).
- W9 (PostgreSQL): `app.save(account)` per event, followed live by
  `eventsourcing.projection.ApplicationSubscription` (its recorder's
  LISTEN/NOTIFY `subscribe()`; see pg_follow.py).

Durability: its SQLite datastore sets journal_mode=WAL but not `synchronous`;
`DurableSQLiteFactory` sets PRAGMA synchronous=FULL on every connection it opens
(on this machine's SQLite build FULL is the default anyway; the JSON report
records what the connections say). On PostgreSQL both use the server's
synchronous_commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTrackingRecorder,
)

from benchmarks.base import System
from benchmarks.common import (
    AMOUNT_CENTS,
    CURRENCY,
    OWNER,
    Prepared,
    pg_create_schemas,
    pg_parts,
    pg_settings,
    split,
    threaded,
)
from benchmarks.pg_follow import EventsourcingFollow, Latencies, measure
from benchmarks.pg_writers import WriterProcesses, eventsourcing_writer, split_accounts
from benchmarks.projections_eventsourcing import EventsourcingProjections
from benchmarks.view import CREATE_BALANCES, UPSERT_BALANCE

# -- the domain, in the library's idiom ---------------------------------------


class BankAccount(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, currency: str = "EUR") -> None:
        self.owner = owner
        self.currency = currency
        self.balance_cents = 0
        self.closed = False

    def deposit(self, amount_cents: int) -> None:
        if amount_cents <= 0:
            raise ValueError(f"an amount must be positive, not {amount_cents} cents")
        if self.closed:
            raise ValueError("the account is closed")
        self._deposited(amount_cents=amount_cents, currency=self.currency)

    @event("Deposited")
    def _deposited(self, amount_cents: int, currency: str) -> None:
        self.balance_cents += amount_cents


class Bank(Application[UUID]):
    def open_account(self, owner: str, currency: str = "EUR") -> UUID:
        if not owner.strip():
            raise ValueError("an account needs an owner")
        account = BankAccount(owner=owner, currency=currency)
        self.save(account)
        return account.id

    def deposit(self, account_id: UUID, amount_cents: int) -> None:
        account: BankAccount = self.repository.get(account_id)
        account.deposit(amount_cents)
        self.save(account)


class SnapshottingBank(Bank):
    name = "Bank"
    snapshotting_intervals = {BankAccount: 100}  # noqa: RUF012 - the library's idiom


# -- durability: synchronous=FULL on every SQLite connection ------------------------


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection


def make_durable(datastore: SQLiteDatastore) -> SQLiteDatastore:
    """Make `datastore` open its (lazily created) connections with synchronous=FULL."""
    assert datastore.pool.num_in_pool == 0 and datastore.pool.num_in_use == 0
    datastore.pool.__class__ = DurableSQLiteConnectionPool
    return datastore


class DurableSQLiteFactory(SQLiteFactory):
    """eventsourcing.sqlite's factory, with PRAGMA synchronous=FULL (see module doc)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        make_durable(self.datastore)


# -- the W6 table view: the library's "materialised view" idiom ----------------------


class BalancesView(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), CREATE_BALANCES]

    def apply(self, changes: Sequence[tuple[str, int]], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.executemany(UPSERT_BALANCE, changes)
            self._insert_tracking(cursor, tracking)

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT count(*) FROM balances")
            return int(cursor.fetchone()[0])


# -- the system --------------------------------------------------------------------


def _account_with(events: int) -> BankAccount:
    account = BankAccount(owner=OWNER, currency=CURRENCY)
    for _ in range(events - 1):
        account.deposit(AMOUNT_CENTS)
    return account


class EventsourcingSystem(EventsourcingProjections, System):
    name = "eventsourcing"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts: list[UUID] = []

    def new_app(self, what: str, cls: type[Bank] = Bank, *, long: bool = False) -> Bank:
        if self.kind == "sqlite":
            path = self.new_sqlite_path(what, long=long)
            env = {
                "PERSISTENCE_MODULE": f"{__name__}:DurableSQLiteFactory",
                "SQLITE_DBNAME": str(path),
            }
        else:
            env = self.new_pg_env(what, long=long)
        app = cls(env=env)
        self.on_cleanup(app.close, long=long)
        return app

    def new_pg_env(self, what: str, *, long: bool = False) -> dict[str, str]:
        """The environment of a `Bank` on PostgreSQL, in a fresh schema (its default pool)."""
        assert self.pg_url is not None
        schema = self.new_pg_schema(what, long=long)
        pg_create_schemas(self.pg_url, [schema])
        parts = pg_parts(self.pg_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts["dbname"],
            "POSTGRES_HOST": parts["host"],
            "POSTGRES_PORT": parts["port"],
            "POSTGRES_USER": parts["user"],
            "POSTGRES_PASSWORD": parts["password"],
            "POSTGRES_SCHEMA": schema,
        }

    def durability(self) -> dict[str, object]:
        if self.kind == "postgres":
            assert self.pg_url is not None
            return {
                "factory": "eventsourcing.postgres (does not change synchronous_commit)",
                "server synchronous_commit": pg_settings(self.pg_url)["synchronous_commit"],
            }
        app = self.new_app("probe")
        with app.factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            sync = cursor.fetchone()[0]
        self.cleanup()
        return {
            "factory": "eventsourcing.sqlite.SQLiteFactory + PRAGMA synchronous=FULL",
            "journal_mode": journal,
            "synchronous": {1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, sync),
        }

    # -- W1, W2, W3 ------------------------------------------------------------

    def chain_start(self) -> None:
        self.app = self.new_app("chain")
        self.accounts = []

    def w1_open_accounts(self, n: int) -> Prepared:
        open_account = self.app.open_account
        ids = self.accounts

        def run() -> int:
            for _ in range(n):
                ids.append(open_account(OWNER, CURRENCY))
            return n

        return run

    def w2_deposits(self, n: int) -> Prepared:
        deposit = self.app.deposit
        ids = self.accounts[:n]

        def run() -> int:
            for account_id in ids:
                deposit(account_id, AMOUNT_CENTS)
            return len(ids)

        return run

    def w3_deposits_threads(self, n: int, threads: int) -> Prepared:
        deposit, get = self.app.deposit, self.app.repository.get
        return threaded(
            split(self.accounts[:n], threads), lambda a: deposit(a, AMOUNT_CENTS), warm=get
        )

    # -- W4 ------------------------------------------------------------------------

    def w4_bulk_append(self, streams: int, per_append: int) -> Prepared:
        app = self.new_app("bulk")
        to_stored = app.mapper.to_stored_event
        batches: list[list[StoredEvent]] = [
            [to_stored(e) for e in _account_with(per_append).collect_events()]
            for _ in range(streams)
        ]
        insert_events = app.recorder.insert_events

        def run() -> int:
            for batch in batches:
                insert_events(batch)
            return streams * per_append

        return run

    # -- W5 ------------------------------------------------------------------------

    def w5_prepare(self, events: int, snapshot_every: int) -> None:
        if snapshot_every != SnapshottingBank.snapshotting_intervals[BankAccount]:
            SnapshottingBank.snapshotting_intervals[BankAccount] = snapshot_every
        self.long_events = events
        self.long_apps: dict[bool, Bank] = {
            False: self.new_app("long", long=True),
            True: self.new_app("long-snap", SnapshottingBank, long=True),
        }
        self.long_ids: dict[bool, UUID] = {}
        for snapshots, app in self.long_apps.items():
            account = BankAccount(owner=OWNER, currency=CURRENCY)
            while account.version < events:
                if account.version % snapshot_every == 0:
                    app.save(account)
                account.deposit(AMOUNT_CENTS)
            app.save(account)
            self.long_ids[snapshots] = account.id

    def w5_load(self, loads: int, *, snapshots: bool) -> Prepared:
        get = self.long_apps[snapshots].repository.get
        account_id, expected = self.long_ids[snapshots], self.long_events

        def run() -> int:
            for _ in range(loads):
                account = get(account_id)
                if account.version != expected:
                    raise AssertionError(f"loaded version {account.version}, not {expected}")
            return loads

        return run

    # -- W6 ------------------------------------------------------------------------

    def w6_prepare(self, streams: int, per_stream: int) -> None:
        self.log_app = self.new_app("log", long=True)
        self.log_streams = streams
        for _ in range(streams):
            self.log_app.save(_account_with(per_stream))

    def w6_memory(self, batch: int) -> Prepared:
        select = self.log_app.recorder.select_notifications
        to_domain_event = self.log_app.mapper.to_domain_event
        deposited, opened = BankAccount.Deposited, BankAccount.Opened  # type: ignore[attr-defined]
        streams = self.log_streams

        def run() -> int:
            balances: dict[UUID, int] = {}
            last, count = 0, 0
            while True:
                notifications = select(start=last, limit=batch, inclusive_of_start=False)
                if not notifications:
                    break
                for notification in notifications:
                    domain_event = to_domain_event(notification)
                    if isinstance(domain_event, deposited):
                        balances[domain_event.originator_id] += domain_event.amount_cents
                    elif isinstance(domain_event, opened):
                        balances[domain_event.originator_id] = 0
                count += len(notifications)
                last = notifications[-1].id
            if len(balances) != streams:
                raise AssertionError(f"{len(balances)} balances, not {streams}")
            return count

        return run

    def w6_table(self, batch: int) -> Prepared:
        datastore = make_durable(SQLiteDatastore(db_name=str(self.new_sqlite_path("view"))))
        self.on_cleanup(datastore.close)
        view = BalancesView(datastore)
        view.create_table()
        app = self.log_app
        select, to_domain_event = app.recorder.select_notifications, app.mapper.to_domain_event
        deposited, opened = BankAccount.Deposited, BankAccount.Opened  # type: ignore[attr-defined]
        streams, name = self.log_streams, app.name

        def run() -> int:
            last = view.max_tracking_id(name) or 0
            count = 0
            while True:
                notifications = select(start=last, limit=batch, inclusive_of_start=False)
                if not notifications:
                    break
                changes: list[tuple[str, int]] = []
                for notification in notifications:
                    domain_event = to_domain_event(notification)
                    if isinstance(domain_event, deposited):
                        changes.append((str(domain_event.originator_id), domain_event.amount_cents))
                    elif isinstance(domain_event, opened):
                        changes.append((str(domain_event.originator_id), 0))
                last = notifications[-1].id
                view.apply(changes, Tracking(name, last))
                count += len(changes)
            if view.count() != streams:
                raise AssertionError(f"{view.count()} balances, not {streams}")
            return count

        return run

    # -- W8, W9 (PostgreSQL) ------------------------------------------------------------

    def w8_writer_processes(self, processes: int, seconds: float, accounts: int) -> Prepared:
        env = self.new_pg_env("writers")
        Bank(env=env).close()  # creates the tables once, not from 16 processes at once
        # One connection per single-threaded process, like histoire's pool_min=1 (16 x
        # its default 5 would hold 80 of the server's 100); CREATE_TABLE done above.
        env = {**env, "CREATE_TABLE": "no", "POSTGRES_POOL_SIZE": "1"}
        writers = WriterProcesses(
            eventsourcing_writer,
            [(env, n) for n in split_accounts(accounts, processes)],
            seconds,
        )
        self.on_cleanup(writers.stop)
        return writers.start()

    def w9_follow(self, rate: float, seconds: float) -> Latencies:
        side = EventsourcingFollow(self.new_pg_env("follow"))
        self.on_cleanup(side.close)
        return measure(side, round(rate * seconds), rate)
