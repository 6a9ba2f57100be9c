"""What a projection handler is given: its tables' names, per generation, checked."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest

from histoire import InvalidInputError
from histoire.app.projections import ProjectionContext
from histoire.store.sqlite.errors import convert
from histoire.store.transactions import SQLiteTransaction


@pytest.fixture
def context() -> Iterator[Callable[[int], ProjectionContext]]:
    conn = sqlite3.connect(":memory:")
    yield lambda generation: ProjectionContext(
        SQLiteTransaction(conn, convert, read_only=False), "views", generation
    )
    conn.close()


def test_a_table_name_is_the_projections_own_in_the_generation_written(
    context: Callable[[int], ProjectionContext],
) -> None:
    """The same name asked twice gives the same quoted table; another generation, another."""
    ctx = context(3)
    assert ctx.table("balances") == '"views__g3__balances"'
    assert ctx.table("balances") == '"views__g3__balances"'
    assert ctx.table("movements") == '"views__g3__movements"'
    assert context(4).table("balances") == '"views__g4__balances"'


def test_a_bad_table_name_is_refused_every_time(
    context: Callable[[int], ProjectionContext],
) -> None:
    """A name unfit for SQL is refused, also after good names were asked for."""
    ctx = context(1)
    ctx.table("balances")
    for _ in range(2):
        with pytest.raises(InvalidInputError, match="invalid table name"):
            ctx.table('x"; DROP TABLE y; --')
