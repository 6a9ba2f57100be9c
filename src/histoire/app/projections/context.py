"""What a projection handler is given: the event's record and its read model's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from histoire.app.projections.definition import validate_name
from histoire.app.projections.documents import Documents
from histoire.core.errors import InvalidInputError
from histoire.core.recorded import RecordedEvent
from histoire.store.transactions import Dialect, Transaction


def table_name(projection: str, generation: int, table: str) -> str:
    """The unquoted name of a projection's table in one generation of its read model."""
    return f"{projection}__g{generation}__{table}"


class _Execute(Protocol):
    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class _ExecuteMany(Protocol):
    def __call__(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class ProjectionContext:
    """A handler's access to its read model (in the store's database) and the current record.

    `table(name)` gives the quoted name of one of the projection's tables in
    the generation being written; `documents(name)` a portable JSON document
    table; `execute` and `executemany` run SQL in the batch's transaction, in
    the database's own dialect (`dialect`: "sqlite", placeholders `?`;
    "postgresql", placeholders `%s`).
    """

    record: RecordedEvent
    """The stored event being handled: stream id, version, time, metadata, ids."""

    execute: _Execute
    """`execute(sql, params=())`: run one statement in the batch's transaction; its rows."""

    executemany: _ExecuteMany
    """`executemany(sql, rows)`: run one statement once per row of parameters."""

    def __init__(
        self, tx: Transaction | None, projection: str, generation: int, *, writing: bool = True
    ) -> None:
        self._tx = tx
        self._writing = writing
        self.projection = projection
        self.generation = generation
        self._documents: dict[str, Documents] = {}
        self._tables: dict[str, str] = {}
        self._dialect: Dialect | None = None
        if tx is not None:
            # The transaction's own: handlers call them once per event (a hot path).
            self._dialect = tx.dialect
            self.execute = tx.execute
            self.executemany = tx.executemany
        else:
            self.execute = self._refused
            self.executemany = self._refused

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the store's database: "sqlite" or "postgresql"."""
        dialect = self._dialect
        return self.tx.dialect if dialect is None else dialect

    @property
    def tx(self) -> Transaction:
        """The batch's transaction (transactional projections only)."""
        if self._tx is None:
            raise InvalidInputError(
                f"projection {self.projection!r} is not transactional: its handlers write "
                "elsewhere, not in the event store's database"
            )
        return self._tx

    def table(self, name: str) -> str:
        """The quoted name of table `name` of this projection's read model."""
        # Handlers ask for it once per event: check and quote each name once per batch.
        found = self._tables.get(name)
        if found is None:
            validate_name("table", name)
            found = self.tx.table(table_name(self.projection, self.generation, name))
            self._tables[name] = found
        return found

    def documents(self, name: str) -> Documents:
        """The JSON document table `name` of this projection's read model (made on first use)."""
        found = self._documents.get(name)
        if found is None:
            tx = self.tx
            if self._writing:
                found = Documents(tx, self.table(name))
                found.create()
            else:
                physical = table_name(self.projection, self.generation, name)
                exists = physical in tx.table_names(physical)
                found = Documents(tx, self.table(name), empty=not exists)
            self._documents[name] = found
        return found

    def _refused(self, *args: Any, **kwargs: Any) -> Any:
        return self.tx  # raises: not transactional
