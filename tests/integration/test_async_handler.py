"""The AsyncCommandHandler on every async backend: the CommandHandler's behaviour, awaited."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from histoire import CommandHandler, DuplicateEventError, RetriesExhaustedError, RetryPolicy
from histoire.app.async_handler import AsyncCommandHandler
from histoire.examples import bank
from histoire.store.async_protocol import AsyncEventStore

from ..async_backends import Opener, run_on

Scenario = Callable[[AsyncEventStore], Awaitable[None]]


run = run_on


def handler_on(store: AsyncEventStore, snapshot_every: int | None = None) -> AsyncCommandHandler:
    return AsyncCommandHandler(
        store, bank.make_decider(snapshot_every), upcasters=bank.make_upcasters()
    )


def test_commands_are_decided_stored_and_loaded(async_store_opener: Opener) -> None:
    """handle appends the decided events; load gives the state latest, at a version, as of."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        first = await handler.handle("account-1", bank.Deposit(amount_cents=500))
        await asyncio.sleep(0.01)
        between = dt.datetime.now(dt.UTC)
        await asyncio.sleep(0.01)
        last = await handler.handle("account-1", bank.Withdraw(amount_cents=200))
        assert [e.type for e in first.events] == ["bank.Deposited"]
        assert (last.version, last.state.balance_cents) == (3, 300)
        loaded = await handler.load("account-1")
        assert (loaded.version, loaded.state) == (3, last.state)
        assert (await handler.load("account-1", at_version=2)).state.balance_cents == 500
        assert (await handler.load("account-1", as_of=between)).version == 2
        beyond = await handler.load("account-1", at_version=9)
        assert (beyond.version, beyond.past_end) == (3, True)

    run(async_store_opener, scenario)


def test_a_refusal_is_an_event_and_is_stored(async_store_opener: Opener) -> None:
    """A business refusal is decided, stored and returned like any event."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        refused = await handler.handle("account-1", bank.Withdraw(amount_cents=10))
        assert [type(e) for e in refused.decided] == [bank.WithdrawalRefused]
        assert await store.stream_version("account-1") == 2

    run(async_store_opener, scenario)


def test_concurrent_tasks_on_one_stream_all_succeed_by_retrying(async_store_opener: Opener) -> None:
    """16 tasks depositing on one account meet conflicts, retry, and every deposit counts."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        results = await asyncio.gather(
            *(handler.handle("account-1", bank.Deposit(amount_cents=n)) for n in range(1, 17))
        )
        assert sorted(r.version for r in results) == list(range(2, 18))
        assert (await handler.load("account-1")).state.balance_cents == sum(range(1, 17))

    run(async_store_opener, scenario)


def test_retries_end_with_retries_exhausted(async_store_opener: Opener) -> None:
    """With one attempt allowed, the losers of a race get RetriesExhaustedError."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = AsyncCommandHandler(store, bank.make_decider(), retry=RetryPolicy.no_retry())
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        outcomes = await asyncio.gather(
            *(handler.handle("account-1", bank.Deposit(amount_cents=1)) for _ in range(8)),
            return_exceptions=True,
        )
        stored = await store.stream_version("account-1") - 1
        lost = [o for o in outcomes if isinstance(o, RetriesExhaustedError)]
        assert stored >= 1 and stored + len(lost) == 8

    run(async_store_opener, scenario)


def test_a_command_handled_again_by_id_stores_nothing_more(async_store_opener: Opener) -> None:
    """The same command id returns the first result (replayed) and appends nothing."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        command_id = uuid.uuid4()
        first = await handler.handle(
            "account-1", bank.OpenAccount(owner="ada"), command_id=command_id
        )
        again = await handler.handle(
            "account-1", bank.OpenAccount(owner="ada"), command_id=command_id
        )
        assert again.replayed and again.events == first.events
        assert await store.stream_version("account-1") == 1
        with pytest.raises(DuplicateEventError):
            await handler.handle("account-2", bank.OpenAccount(owner="bo"), command_id=command_id)

    run(async_store_opener, scenario)


def test_snapshots_are_taken_and_read(async_store_opener: Opener) -> None:
    """Every N events a snapshot is saved; loads start from it and equal a full replay."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store, snapshot_every=3)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        for amount in range(1, 7):
            await handler.handle("account-1", bank.Deposit(amount_cents=amount))
        loaded = await handler.load("account-1")
        assert (loaded.snapshot_version, loaded.version) == (6, 7)
        assert loaded.state == (await handler_on(store).load("account-1")).state
        taken = await handler.snapshot("account-1")
        assert taken.version == 7

    run(async_store_opener, scenario)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])  # the stores that wrap a blocking one
def test_the_sync_and_async_handlers_agree(async_store_opener: Opener, backend: str) -> None:
    """What the async handler stores, the blocking handler on the same store loads the same."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        await handler.handle("account-1", bank.Deposit(amount_cents=70))
        blocking = CommandHandler(store.blocking, bank.make_decider())  # type: ignore[attr-defined]
        assert blocking.load("account-1") == await handler.load("account-1")

    run(async_store_opener, scenario)


def pool_of(store: AsyncEventStore) -> Any:
    """The psycopg pool of an async PostgreSQL store."""
    return store._db.pool  # type: ignore[attr-defined]


def assert_all_given_back(pool: Any) -> None:
    stats = pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"], stats


def test_every_async_store_reads_a_folds_page_in_one_await(async_store_opener: Opener) -> None:
    """read_payloads_page gives read_payloads' rows: the handler folds them, no envelope read."""

    async def scenario(store: AsyncEventStore) -> None:
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        for amount in (5, 7, 11):
            await handler.handle("account-1", bank.Deposit(amount_cents=amount))
        rows = [row async for row in store.read_payloads("account-1", from_version=2)]
        page = await store.read_payloads_page(  # type: ignore[attr-defined]
            "account-1", from_version=2, limit=2, batch_size=2
        )
        assert [tuple(row) for row in page] == [tuple(row) for row in rows[:2]]
        assert [row[0] for row in page] == [2, 3]

    run(async_store_opener, scenario)


@pytest.mark.parametrize("backend", ["postgres"])  # the store that pins a pooled connection
def test_a_command_borrows_one_pooled_connection_and_gives_it_back(
    async_store_opener: Opener, backend: str
) -> None:
    """A command's read and append share one borrowed connection; cancelled and conflicting
    commands give theirs back (the pool ends whole), and a retry's sleep holds none."""

    async def scenario(store: AsyncEventStore) -> None:
        pool = pool_of(store)
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        before = pool.get_stats()["requests_num"]
        result = await handler.handle("account-1", bank.Deposit(amount_cents=5))
        assert result.version == 2
        assert pool.get_stats()["requests_num"] - before == 1
        for n in range(30):  # cancelled at many points, mid-statement included
            task = asyncio.create_task(handler.handle("account-1", bank.Deposit(amount_cents=1)))
            for _ in range(n % 6):
                await asyncio.sleep(0)
            if n % 3 == 0:
                await asyncio.sleep(0.0005 * (n % 5))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # One connection, 12 commands at once on one stream: each waits its turn for it.
        results = await asyncio.gather(
            *(handler.handle("account-1", bank.Deposit(amount_cents=1)) for _ in range(12))
        )
        assert len({r.version for r in results}) == 12
        await asyncio.sleep(0.05)
        assert_all_given_back(pool)
        events = [e.version async for e in store.read_stream("account-1")]
        assert events == list(range(1, len(events) + 1))

    run(lambda **options: async_store_opener(pool_max=1, pool_timeout=5, **options), scenario)


@pytest.mark.parametrize("backend", ["postgres"])  # the store that pins a pooled connection
def test_a_retry_waits_without_holding_a_connection(
    async_store_opener: Opener, backend: str
) -> None:
    """A command whose append conflicts gives its connection back before sleeping to retry."""
    from histoire import open_store

    async def scenario(store: AsyncEventStore) -> None:
        pool = pool_of(store)
        location = store.location  # type: ignore[attr-defined]
        blocking = open_store(store.url, schema=location.schema)
        try:
            other = CommandHandler(blocking, bank.make_decider())
            other.handle("account-1", bank.OpenAccount(owner="ada"))
            free_while_sleeping: list[int] = []
            decided = 0

            def decide(command: bank.BankCommand, state: bank.Account) -> list[bank.BankEvent]:
                nonlocal decided
                decided += 1
                if decided == 1:  # another writer appends between this read and its append
                    other.handle("account-1", bank.Deposit(amount_cents=1))
                return list(bank.decide(command, state))

            def sleep(seconds: float) -> None:
                free_while_sleeping.append(pool.get_stats()["pool_available"])

            handler = AsyncCommandHandler(
                store,
                dataclasses.replace(bank.make_decider(), decide=decide),
                retry=RetryPolicy(sleep=sleep),
            )
            result = await handler.handle("account-1", bank.Deposit(amount_cents=5))
        finally:
            blocking.close()
        assert (decided, result.version, free_while_sleeping) == (2, 3, [1])

    run(lambda **options: async_store_opener(pool_max=1, **options), scenario)


@pytest.mark.parametrize("backend", ["postgres"])  # the store that pins a pooled connection
def test_pinned_blocks_nest_and_tasks_they_start_borrow_their_own(
    async_store_opener: Opener, backend: str
) -> None:
    """A pinned block inside another shares its connection; tasks started inside use others."""

    async def scenario(store: AsyncEventStore) -> None:
        pool = pool_of(store)
        handler = handler_on(store)
        await handler.handle("account-1", bank.OpenAccount(owner="ada"))
        before = pool.get_stats()["requests_num"]
        async with store.pinned() as outer:  # type: ignore[attr-defined]
            await handler.handle("account-1", bank.Deposit(amount_cents=5))
            async with store.pinned() as inner:  # type: ignore[attr-defined]
                assert inner is outer
                await store.stream_version("account-1")
            assert outer.conn is not None  # the inner block's end gave nothing back
            results = await asyncio.gather(
                *(handler.handle(f"account-{n}", bank.OpenAccount(owner="bob")) for n in (2, 3))
            )
            assert [r.version for r in results] == [1, 1]
            assert await store.stream_version("account-1") == 2
        assert pool.get_stats()["requests_num"] - before == 3  # the block's, and one per task
        assert_all_given_back(pool)

    run(async_store_opener, scenario)
