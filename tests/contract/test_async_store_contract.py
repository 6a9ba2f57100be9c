"""The store contract, run over every async backend through a blocking facade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from histoire.testing.blocking_facade import BlockingFacade
from histoire.testing.contract import EventStoreContract, StoreFactory

from ..async_backends import async_opener


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens facades on fresh async stores of one backend; every call, the same database."""
    opened: list[BlockingFacade] = []
    opener = async_opener(request.param, tmp_path)

    def make(**options: Any) -> BlockingFacade:
        facade = BlockingFacade(lambda: opener(**options))
        opened.append(facade)
        return facade

    yield make  # type: ignore[misc]
    for facade in opened:
        facade.close()


class TestAsyncEventStore(EventStoreContract):
    """Every async backend passes the contract that ships with histoire."""
