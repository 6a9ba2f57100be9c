"""The bank of the benchmark written for eventsource-py: pydantic events, an AggregateRoot."""

from __future__ import annotations

from typing import Any

from eventsource import AggregateRoot, DomainEvent, register_event
from pydantic import BaseModel


@register_event
class AccountOpened(DomainEvent):
    event_type: str = "AccountOpened"
    aggregate_type: str = "Account"
    owner: str
    currency: str


@register_event
class Deposited(DomainEvent):
    event_type: str = "Deposited"
    aggregate_type: str = "Account"
    amount_cents: int
    currency: str


class AccountState(BaseModel):
    opened: bool = False
    owner: str = ""
    currency: str = "EUR"
    balance_cents: int = 0


class Account(AggregateRoot[AccountState]):
    aggregate_type = "Account"

    def _get_initial_state(self) -> AccountState:
        return AccountState()

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, AccountOpened):
            self._state = AccountState(opened=True, owner=event.owner, currency=event.currency)
        elif isinstance(event, Deposited):
            state = self._state or AccountState()
            self._state = state.model_copy(
                update={"balance_cents": state.balance_cents + event.amount_cents}
            )

    def open(self, owner: str, currency: str) -> None:
        if self.state is not None and self.state.opened:
            raise ValueError("the account is already open")
        self.apply_event(
            AccountOpened(
                aggregate_id=self.aggregate_id,
                owner=owner,
                currency=currency,
                aggregate_version=self.get_next_version(),
            )
        )

    def deposit(self, amount_cents: int) -> None:
        if self.state is None or not self.state.opened:
            raise ValueError("the account does not exist")
        self.apply_event(
            Deposited(
                aggregate_id=self.aggregate_id,
                amount_cents=amount_cents,
                currency=self.state.currency,
                aggregate_version=self.get_next_version(),
            )
        )


async def make_store(where: Any) -> tuple[Any, Any]:
    """eventsource-py's store for `where`: SQLite (aiosqlite) or PostgreSQL (asyncpg)."""
    if where.db == "sqlite":
        from eventsource.adapters.sqlite.store import SQLiteEventStore

        return SQLiteEventStore(str(where.folder / "eventsource-py.db")), None
    from eventsource.adapters.postgresql.store import PostgreSQLEventStore
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    schema = f"bench_aio_esp_{__import__('uuid').uuid4().hex[:12]}"
    where.schemas.append(schema)
    url = where.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    engine = create_async_engine(
        url, connect_args={"server_settings": {"search_path": schema}}, pool_size=20
    )
    return PostgreSQLEventStore(engine, create_schema=True), engine
