"""The systems of the asyncio benchmark: histoire's blocking and async edges, eventsource-py.

Each system prepares a workload untimed and returns a coroutine function (or a
plain one, for the blocking edge) that does the timed work and returns its
number of operations. The bank domain is the benchmark suite's own (histoire's
bank example; an equivalent pydantic aggregate for eventsource-py).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import AMOUNT_CENTS, CURRENCY, OWNER, split, threaded
from histoire import (
    NO_STREAM,
    START,
    AsyncCommandHandler,
    CommandHandler,
    NewEvent,
    open_async_store,
    open_store,
)
from histoire.examples import bank

Timed = Callable[[], Awaitable[int] | int]
"""The timed part of a workload: its number of operations."""

CONCURRENCY = 16
"""W3: concurrent writers (threads on the blocking edge, tasks on the async ones)."""


def account_id() -> str:
    return f"account-{uuid.uuid4().hex}"


def account_events(codec: Any, count: int) -> list[NewEvent]:
    events = [codec.encode(bank.AccountOpened(owner=OWNER, currency=CURRENCY))]
    deposit = bank.Deposited(amount_cents=AMOUNT_CENTS, currency=CURRENCY)
    return events + [codec.encode(deposit) for _ in range(count - 1)]


def fold_balance(
    balances: dict[Any, int], account: Any, event: Any, deposited: type = bank.Deposited
) -> None:
    """W6's fold: an opening sets a balance to 0, a deposit adds to it."""
    if isinstance(event, deposited):
        balances[account] += event.amount_cents
    else:
        balances[account] = 0


class Where:
    """One database per (system, round): a fresh SQLite file, or a fresh PostgreSQL schema."""

    def __init__(self, db: str, folder: Path, postgres_url: str | None) -> None:
        self.db = db
        self.folder = folder
        self.postgres_url = postgres_url
        self.schemas: list[str] = []

    def histoire(self, name: str) -> tuple[str, dict[str, Any]]:
        if self.db == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}", {}
        assert self.postgres_url is not None
        schema = f"bench_aio_{uuid.uuid4().hex[:12]}"
        self.schemas.append(schema)
        # As many connections as eventsource-py's engine is given (pool_size=20), for
        # both edges: with histoire's default of 10, 6 of W3's 16 writers wait for one.
        return self.postgres_url, {"schema": schema, "pool_max": 20}


class BlockingEdge:
    """histoire's CommandHandler on the blocking store."""

    name = "sync"

    def __init__(self, where: Where) -> None:
        url, options = where.histoire("sync")
        self.store = open_store(url, **options)
        self.handler = CommandHandler(self.store, bank.make_decider())
        self.accounts: list[str] = []

    async def w1(self, n: int) -> Timed:
        self.accounts = [account_id() for _ in range(n)]
        handle, command = self.handler.handle, bank.OpenAccount(owner=OWNER, currency=CURRENCY)

        def run() -> int:
            for stream_id in self.accounts:
                handle(stream_id, command)
            return n

        return run

    async def w2(self, n: int) -> Timed:
        handle, command = self.handler.handle, bank.Deposit(amount_cents=AMOUNT_CENTS)
        accounts = self.accounts[:n]

        def run() -> int:
            for stream_id in accounts:
                handle(stream_id, command)
            return len(accounts)

        return run

    async def w3(self, n: int) -> Timed:
        handle, command = self.handler.handle, bank.Deposit(amount_cents=AMOUNT_CENTS)
        return threaded(split(self.accounts[:n], CONCURRENCY), lambda s: handle(s, command))

    async def w5(self, events: int, loads: int) -> Timed:
        stream_id = account_id()
        self.store.append(stream_id, account_events(self.handler.codec, events), NO_STREAM)
        load = self.handler.load

        def run() -> int:
            for _ in range(loads):
                assert load(stream_id).version == events
            return loads

        return run

    async def w6(self, streams: int, per_stream: int) -> Timed:
        for _ in range(streams):
            self.store.append(account_id(), account_events(self.handler.codec, per_stream))
        decode, store = self.handler.codec.decode, self.store

        def run() -> int:
            balances: dict[str, int] = {}
            for record in store.read_log(START):
                fold_balance(balances, record.stream_id, decode(record))
            assert len(balances) >= streams
            return sum(balances.values()) // AMOUNT_CENTS + len(balances)

        return run

    async def close(self) -> None:
        self.store.close()


class AsyncEdge:
    """histoire's AsyncCommandHandler on the async store."""

    name = "async"

    def __init__(self, where: Where) -> None:
        self.url, self.options = where.histoire("async")
        self.accounts: list[str] = []

    async def open(self) -> AsyncEdge:
        self.store = await open_async_store(self.url, **self.options)
        self.handler = AsyncCommandHandler(self.store, bank.make_decider())
        return self

    async def w1(self, n: int) -> Timed:
        self.accounts = [account_id() for _ in range(n)]
        handle, command = self.handler.handle, bank.OpenAccount(owner=OWNER, currency=CURRENCY)

        async def run() -> int:
            for stream_id in self.accounts:
                await handle(stream_id, command)
            return n

        return run

    async def w2(self, n: int) -> Timed:
        handle, command = self.handler.handle, bank.Deposit(amount_cents=AMOUNT_CENTS)
        accounts = self.accounts[:n]

        async def run() -> int:
            for stream_id in accounts:
                await handle(stream_id, command)
            return len(accounts)

        return run

    async def w3(self, n: int) -> Timed:
        handle, command = self.handler.handle, bank.Deposit(amount_cents=AMOUNT_CENTS)
        parts = split(self.accounts[:n], CONCURRENCY)

        async def client(part: list[str]) -> None:
            for stream_id in part:
                await handle(stream_id, command)

        async def run() -> int:
            await asyncio.gather(*(client(part) for part in parts))
            return sum(len(part) for part in parts)

        return run

    async def w5(self, events: int, loads: int) -> Timed:
        stream_id = account_id()
        await self.store.append(stream_id, account_events(self.handler.codec, events), NO_STREAM)
        load = self.handler.load

        async def run() -> int:
            for _ in range(loads):
                assert (await load(stream_id)).version == events
            return loads

        return run

    async def w6(self, streams: int, per_stream: int) -> Timed:
        for _ in range(streams):
            await self.store.append(account_id(), account_events(self.handler.codec, per_stream))
        decode, store = self.handler.codec.decode, self.store

        async def run() -> int:
            balances: dict[str, int] = {}
            async for record in store.read_log(START):
                fold_balance(balances, record.stream_id, decode(record))
            assert len(balances) >= streams
            return sum(balances.values()) // AMOUNT_CENTS + len(balances)

        return run

    async def close(self) -> None:
        await self.store.aclose()


class EventsourcePy:
    """eventsource-py (async, pydantic): an AggregateRoot through its AggregateRepository."""

    name = "eventsource-py"

    def __init__(self, where: Where) -> None:
        self.where = where
        self.accounts: list[uuid.UUID] = []
        self.engine: Any = None

    async def open(self) -> EventsourcePy:
        from benchmarks.asyncio_eventsource import Account, make_store

        self.store, self.engine = await make_store(self.where)
        from eventsource import AggregateRepository

        self.repo = AggregateRepository(
            event_store=self.store, aggregate_factory=Account, aggregate_type="Account"
        )
        return self

    async def _deposit(self, account: uuid.UUID) -> None:
        from eventsource.domain.exceptions import OptimisticLockError

        while True:
            aggregate = await self.repo.load(account)
            aggregate.deposit(AMOUNT_CENTS)
            try:
                await self.repo.save(aggregate)
                return
            except OptimisticLockError:
                await asyncio.sleep(0.002)

    async def w1(self, n: int) -> Timed:
        self.accounts = [uuid.uuid4() for _ in range(n)]

        async def run() -> int:
            for account in self.accounts:
                aggregate = self.repo.create_new(account)
                aggregate.open(OWNER, CURRENCY)
                await self.repo.save(aggregate)
            return n

        return run

    async def w2(self, n: int) -> Timed:
        accounts = self.accounts[:n]

        async def run() -> int:
            for account in accounts:
                await self._deposit(account)
            return len(accounts)

        return run

    async def w3(self, n: int) -> Timed:
        parts = split(self.accounts[:n], CONCURRENCY)

        async def client(part: list[uuid.UUID]) -> None:
            for account in part:
                await self._deposit(account)

        async def run() -> int:
            await asyncio.gather(*(client(part) for part in parts))
            return sum(len(part) for part in parts)

        return run

    async def _account_with(self, events: int) -> uuid.UUID:
        account = uuid.uuid4()
        aggregate = self.repo.create_new(account)
        aggregate.open(OWNER, CURRENCY)
        for _ in range(events - 1):
            aggregate.deposit(AMOUNT_CENTS)
        await self.repo.save(aggregate)
        return account

    async def w5(self, events: int, loads: int) -> Timed:
        account = await self._account_with(events)

        async def run() -> int:
            for _ in range(loads):
                assert (await self.repo.load(account)).version == events
            return loads

        return run

    async def w6(self, streams: int, per_stream: int) -> Timed:
        from benchmarks.asyncio_eventsource import Deposited

        for _ in range(streams):
            await self._account_with(per_stream)

        async def run() -> int:
            balances: dict[uuid.UUID, int] = {}
            async for envelope in self.store.read_all():
                event = envelope.event
                fold_balance(balances, event.aggregate_id, event, Deposited)
            assert len(balances) >= streams
            return sum(balances.values()) // AMOUNT_CENTS + len(balances)

        return run

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.store.close()
        if self.engine is not None:
            await self.engine.dispose()
