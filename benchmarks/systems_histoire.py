"""histoire doing the workloads through its public API (CommandHandler, EventStore)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from benchmarks.base import System
from benchmarks.common import (
    AMOUNT_CENTS,
    CURRENCY,
    OWNER,
    Prepared,
    pg_settings,
    split,
    sqlite_connect,
    sqlite_pragmas,
    threaded,
)
from benchmarks.pg_follow import HistoireFollow, Latencies, measure
from benchmarks.pg_writers import WriterProcesses, histoire_writer, split_accounts
from benchmarks.projections_histoire import HistoireProjections
from benchmarks.view import SQLiteBalanceView
from histoire import (
    NO_STREAM,
    START,
    Checkpoint,
    Codec,
    CommandHandler,
    EventRegistry,
    EventStore,
    NewEvent,
    Snapshot,
    open_store,
    stream_id_for,
)
from histoire.codec.states import encode_state
from histoire.examples import bank


def new_account_id() -> str:
    return stream_id_for("account", uuid.uuid4())


class HistoireSystem(HistoireProjections, System):
    name = "histoire"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.codec = Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())
        self.accounts: list[str] = []
        self.store: EventStore | None = None

    # -- stores -------------------------------------------------------------

    def open(self, what: str, *, long: bool = False) -> EventStore:
        if self.kind == "sqlite":
            path = self.new_sqlite_path(what, long=long)
            store = open_store(f"sqlite:///{path}")
        else:
            assert self.pg_url is not None
            schema = self.new_pg_schema(what, long=long)
            store = open_store(self.pg_url, schema=schema)
        self.on_cleanup(store.close, long=long)
        return store

    def durability(self) -> dict[str, object]:
        store = self.open("probe")
        facts: dict[str, object] = {"durability": getattr(store, "durability", "?")}
        if self.kind == "postgres":
            assert self.pg_url is not None
            facts["server synchronous_commit"] = pg_settings(self.pg_url)["synchronous_commit"]
            facts["note"] = "durability=full keeps synchronous_commit on"
        else:
            path = getattr(store, "path", None)
            if path is not None:
                conn = sqlite_connect(path)
                facts["journal_mode"] = sqlite_pragmas(conn)["journal_mode"]
                conn.close()
            writer = getattr(store, "_writer", None)
            if isinstance(writer, sqlite3.Connection):
                facts["synchronous"] = sqlite_pragmas(writer)["synchronous"]
            else:
                facts["synchronous"] = "FULL (durability=full: WAL + synchronous=FULL)"
        self.cleanup()
        return facts

    # -- W1, W2, W3 ------------------------------------------------------------

    def chain_start(self) -> None:
        self.store = self.open("chain")
        self.handler = CommandHandler(self.store, bank.make_decider(), codec=self.codec)
        self.accounts = []

    def w1_open_accounts(self, n: int) -> Prepared:
        handle = self.handler.handle
        ids = [new_account_id() for _ in range(n)]
        self.accounts = ids
        command = bank.OpenAccount(owner=OWNER, currency=CURRENCY)

        def run() -> int:
            for stream_id in ids:
                handle(stream_id, command, new_stream=True)
            return len(ids)

        return run

    def w2_deposits(self, n: int) -> Prepared:
        return self.deposits_on(self.accounts[:n])

    def deposits_on(self, accounts: list[str]) -> Prepared:
        """One deposit on each of `accounts` (W2; W12 in segments)."""
        handle = self.handler.handle
        command = bank.Deposit(amount_cents=AMOUNT_CENTS)

        def run() -> int:
            for stream_id in accounts:
                handle(stream_id, command)
            return len(accounts)

        return run

    def w3_deposits_threads(self, n: int, threads: int) -> Prepared:
        handle, load = self.handler.handle, self.handler.load
        command = bank.Deposit(amount_cents=AMOUNT_CENTS)
        return threaded(split(self.accounts[:n], threads), lambda s: handle(s, command), warm=load)

    # -- W4 ------------------------------------------------------------------------

    def _account_events(self, count: int) -> list[NewEvent]:
        encode = self.codec.encode
        events = [encode(bank.AccountOpened(owner=OWNER, currency=CURRENCY))]
        events += [
            encode(bank.Deposited(amount_cents=AMOUNT_CENTS, currency=CURRENCY))
            for _ in range(count - 1)
        ]
        return events

    def w4_bulk_append(self, streams: int, per_append: int) -> Prepared:
        store = self.open("bulk")
        batches = [(new_account_id(), self._account_events(per_append)) for _ in range(streams)]
        append = store.append

        def run() -> int:
            for stream_id, events in batches:
                append(stream_id, events, NO_STREAM)
            return streams * per_append

        return run

    # -- W5 ------------------------------------------------------------------------

    def w5_prepare(self, events: int, snapshot_every: int) -> None:
        self.long_events = events
        self.long_id = new_account_id()
        plain = self.open("long", long=True)
        snapped = self.open("long-snap", long=True)
        decider = bank.make_decider(snapshot_every)
        schema_version = decider.snapshots.state_schema_version
        state = decider.initial_state()
        written = 0
        while written < events:
            size = min(snapshot_every, events - written)
            if written == 0:
                batch = self._account_events(size)
            else:
                batch = self._account_events(size + 1)[1:]
            for store in (plain, snapped):
                store.append(self.long_id, batch, written or NO_STREAM)
            state = decider.fold(
                [self.codec.decode_payload(e.type, e.schema_version, e.data) for e in batch], state
            )  # type: ignore[misc]
            written += size
            if written % snapshot_every == 0:
                snapped.save_snapshot(
                    Snapshot(
                        stream_id=self.long_id,
                        name=decider.name,
                        version=written,
                        schema_version=schema_version,
                        data=encode_state(state),
                    )
                )
        self.long_handlers = {
            False: CommandHandler(plain, bank.make_decider(), codec=self.codec),
            True: CommandHandler(snapped, decider, codec=self.codec),
        }

    def w5_load(self, loads: int, *, snapshots: bool) -> Prepared:
        load = self.long_handlers[snapshots].load
        stream_id, expected = self.long_id, self.long_events

        def run() -> int:
            for _ in range(loads):
                loaded = load(stream_id)
                if loaded.version != expected:
                    raise AssertionError(f"loaded version {loaded.version}, not {expected}")
                if snapshots and loaded.snapshot_version == 0:
                    raise AssertionError("W5b loaded without its snapshot")
            return loads

        return run

    # -- W6 ------------------------------------------------------------------------

    def w6_prepare(self, streams: int, per_stream: int) -> None:
        self.log_store = self.open("log", long=True)
        self.log_streams = streams
        for _ in range(streams):
            self.log_store.append(new_account_id(), self._account_events(per_stream), NO_STREAM)

    def w6_memory(self, batch: int) -> Prepared:
        # A fold of the log: read_log_payloads rows, decoded with the codec's decoders
        # (read_log would build a RecordedEvent per event, which this fold never needs),
        # looked up only when the type changes, as the command handler does (a dict
        # keyed by (type, schema version) cost a tuple and two hashes per event).
        store, decoder, streams = self.log_store, self.codec.decoder, self.log_streams
        deposited, opened = bank.Deposited, bank.AccountOpened

        def run() -> int:
            balances: dict[str, int] = {}
            count = 0
            last_kind, last_version, decode = "", 0, None
            for _, _, stream_id, _, kind, schema_version, data in store.read_log_payloads(
                START, batch_size=batch
            ):
                if kind != last_kind or schema_version != last_version:
                    decode = decoder(kind, schema_version)
                    if decode is None:  # an upcast: not in this log
                        raise AssertionError(f"{kind} v{schema_version} needs an upcast")
                    last_kind, last_version = kind, schema_version
                event = decode(data)
                if isinstance(event, deposited):
                    balances[stream_id] += event.amount_cents
                elif isinstance(event, opened):
                    balances[stream_id] = 0
                count += 1
            if len(balances) != streams:
                raise AssertionError(f"{len(balances)} balances, not {streams}")
            return count

        return run

    def w6_table(self, batch: int) -> Prepared:
        view = SQLiteBalanceView(self.new_sqlite_path("view"))
        self.on_cleanup(view.close)
        store, decode, streams = self.log_store, self.codec.decode, self.log_streams
        deposited, opened = bank.Deposited, bank.AccountOpened

        def run() -> int:
            checkpoint = Checkpoint(*view.checkpoint())
            count = 0
            while True:
                changes: list[tuple[str, int]] = []
                last = None
                for record in store.read_log(checkpoint, limit=batch, batch_size=batch):
                    event = decode(record)
                    if isinstance(event, deposited):
                        changes.append((record.stream_id, event.amount_cents))
                    elif isinstance(event, opened):
                        changes.append((record.stream_id, 0))
                    last = record
                if last is None:
                    break
                checkpoint = last.checkpoint
                view.apply(changes, tuple(checkpoint))  # type: ignore[arg-type]
                count += len(changes)
            if view.count() != streams:
                raise AssertionError(f"{view.count()} balances, not {streams}")
            return count

        return run

    # -- W8, W9 (PostgreSQL) ------------------------------------------------------------

    def w8_writer_processes(self, processes: int, seconds: float, accounts: int) -> Prepared:
        assert self.pg_url is not None
        schema = self.new_pg_schema("writers")
        open_store(self.pg_url, schema=schema).close()  # migrated once, not by 16 at once
        writers = WriterProcesses(
            histoire_writer,
            [(self.pg_url, schema, n) for n in split_accounts(accounts, processes)],
            seconds,
        )
        self.on_cleanup(writers.stop)
        return writers.start()

    def w9_follow(self, rate: float, seconds: float) -> Latencies:
        assert self.pg_url is not None
        side = HistoireFollow(self.pg_url, self.new_pg_schema("follow"))
        self.on_cleanup(side.close)
        return measure(side, round(rate * seconds), rate)
