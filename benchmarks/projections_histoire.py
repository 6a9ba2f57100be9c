"""histoire's projections in the suite (W10-W12): `Projection` + `ProjectionRunner`, public API.

The balances view is a projection with a setup creating its table and plain
SQL handlers, in the store's database (same SQLite file, same PostgreSQL
schema), each batch's rows and checkpoint in one transaction:

- `event` mode: `@projection.on(AccountOpened)` / `.on(Deposited)`, one
  `ctx.execute(UPSERT)` per event (what a user writes first);
- `batch` mode: `@projection.on_batch(AccountOpened, Deposited)`, one
  `ctx.executemany(UPSERT, rows)` per run of events (the fast way).

`ProjectionRunner(store, projection, codec=..., batch_size=1000).run()` catches
up (W10) or, with `live=True`, follows the log (W11 in a thread; W12 in
another process, see beside.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from benchmarks.catchup import (
    BATCH,
    BATCHED,
    CatchUp,
    check_view,
    create_balances,
    expected_total,
    upsert_balance,
)
from benchmarks.common import AMOUNT_CENTS, CURRENCY, OWNER
from benchmarks.live import Appender, Collector, FollowThread
from benchmarks.probes import Probe
from histoire import (
    NO_STREAM,
    Codec,
    EventRegistry,
    EventStore,
    RecordedEvent,
    open_store,
    stream_id_for,
)
from histoire.app.follower import Batch
from histoire.app.projections import (
    Projection,
    ProjectionContext,
    ProjectionRunner,
    RunReport,
    read_model,
)
from histoire.examples import bank

if TYPE_CHECKING:
    from benchmarks.beside import ProjectionProcess


def _upsert(ctx: ProjectionContext) -> str:
    return upsert_balance(ctx.table("balances"), "?" if ctx.dialect == "sqlite" else "%s")


def balances_projection(name: str, mode: str) -> Projection:
    """Balances per account, one UPSERT per event (see the module doc for the two modes)."""
    projection = Projection(name, categories=["account"])

    @projection.setup
    def create(ctx: ProjectionContext) -> None:
        ctx.execute(create_balances(ctx.table("balances")))

    if mode == BATCHED:

        @projection.on_batch(bank.AccountOpened, bank.Deposited)
        def apply(items: list[tuple[Any, RecordedEvent]], ctx: ProjectionContext) -> None:
            ctx.executemany(
                _upsert(ctx), [(r.stream_id, getattr(e, "amount_cents", 0)) for e, r in items]
            )

    else:

        @projection.on(bank.AccountOpened)
        def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
            ctx.execute(_upsert(ctx), (ctx.record.stream_id, 0))

        @projection.on(bank.Deposited)
        def deposited(event: bank.Deposited, ctx: ProjectionContext) -> None:
            ctx.execute(_upsert(ctx), (ctx.record.stream_id, event.amount_cents))

    return projection


def view_count_and_total(store: EventStore, name: str) -> tuple[int, int]:
    with read_model(store, name) as view:
        ((count, total),) = view.execute(
            f"SELECT count(*), coalesce(sum(balance_cents), 0) FROM {view.table('balances')}"
        )
    return int(count), int(total)


def bank_codec() -> Codec:
    return Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())


class HistoireProjections:
    """W10-W12 for HistoireSystem (which gives `open`, `kind`, `pg_url`, `new_pg_schema`...)."""

    kind: str
    codec: Codec
    open: Any
    new_sqlite_path: Any
    new_pg_schema: Any
    on_cleanup: Any
    pg_url: str | None
    store: EventStore | None
    _account_events: Any

    # -- W10 ---------------------------------------------------------------------------

    def w10_prepare(self, streams: int, per_stream: int) -> None:
        self.w10_store = store = self.open("w10log", long=True)
        self.w10_streams, self.w10_events = streams, streams * per_stream
        self.w10_rounds = 0
        for _ in range(streams):
            store.append(_new_account(), self._account_events(per_stream), NO_STREAM)

    def w10_catch_up(self, mode: str, budget: int | None) -> CatchUp:
        store, streams, events = self.w10_store, self.w10_streams, self.w10_events
        self.w10_rounds += 1
        name = f"balances_{mode}_{self.w10_rounds}"
        target = min(budget or events, events)
        stop = threading.Event()

        def enough(report: RunReport, _batch: Batch) -> None:
            if report.handled >= target:
                stop.set()  # a prefix of the log (a slow runner): stop after this batch

        runner = ProjectionRunner(
            store,
            balances_projection(name, mode),
            codec=self.codec,
            batch_size=BATCH,
            on_batch=enough if target < events else None,
        )

        def run(probe: Probe) -> int:
            probe.start()
            report = runner.run(stop=stop)
            probe.stop()
            if report.failure is not None:
                raise report.failure
            if target == events:
                count, total = view_count_and_total(store, name)
                check_view(count, total, streams, expected_total(events, streams, AMOUNT_CENTS))
            return report.handled

        return run

    # -- W11 ---------------------------------------------------------------------------

    def w11_side(self) -> HistoireLive:
        if self.kind == "sqlite":
            url, schema = f"sqlite:///{self.new_sqlite_path('live')}", None
        else:
            assert self.pg_url is not None
            url, schema = self.pg_url, self.new_pg_schema("live")
        side = HistoireLive(url, schema, self.codec)
        self.on_cleanup(side.close)
        return side

    # -- W12 ---------------------------------------------------------------------------

    def w12_projection_process(self) -> ProjectionProcess:
        """A projection process on the chain's store, started, caught up and paused."""
        from benchmarks.beside import ProjectionProcess

        assert self.store is not None
        process = ProjectionProcess(self.store)
        self.on_cleanup(process.stop)
        process.start()
        return process


def _new_account() -> str:
    return stream_id_for("account", uuid.uuid4())


# -- W11: the live side and its appender ---------------------------------------------------


class HistoireLive(FollowThread):
    def __init__(self, url: str, schema: str | None, codec: Codec) -> None:
        super().__init__()
        self.store = open_store(url, schema=schema) if schema else open_store(url)
        self.codec = codec
        self.appender = (histoire_appender, (url, schema))

    def start(self, collector: Collector) -> None:
        def applied(_report: RunReport, batch: Batch) -> None:
            now = time.time_ns()  # the batch is committed
            for record in batch.events:
                collector.add(record.version, record.metadata.get("sent_ns"), now)

        runner = ProjectionRunner(
            self.store,
            balances_projection("balances", "event"),
            codec=self.codec,
            batch_size=BATCH,
            on_batch=applied,
        )

        def follow(stop: threading.Event) -> None:
            report = runner.run(live=True, stop=stop)
            if report.failure is not None:
                raise report.failure

        self._start_thread("bench-projection", follow)

    def close(self) -> None:
        self.store.close()


def histoire_appender(url: str, schema: str | None) -> Appender:
    store = open_store(url, schema=schema) if schema else open_store(url)
    codec = bank_codec()
    stream_id = _new_account()
    version = [0]

    def open_stream() -> None:
        store.append(
            stream_id, [codec.encode(bank.AccountOpened(owner=OWNER, currency=CURRENCY))], NO_STREAM
        )
        version[0] = 1

    def append() -> None:
        sent = time.time_ns()
        event = bank.Deposited(amount_cents=AMOUNT_CENTS, currency=CURRENCY)
        store.append(stream_id, [codec.encode(event, metadata={"sent_ns": sent})], version[0])
        version[0] += 1

    return Appender(open_stream, append, store.close)
