"""A small portable read model: JSON documents by key, in a table the projection owns.

The same projection code runs on SQLite and PostgreSQL (and on the memory
store, whose read models are SQLite in memory)::

    accounts = ctx.documents("accounts")
    accounts.put("account-1", {"owner": "Ada", "cents": 0})
    accounts.get("account-1")            # {"owner": "Ada", "cents": 0}
    accounts.find(owner="Ada")           # [("account-1", {...})]

`find` matches top-level fields by JSON equality (1 and true differ on
PostgreSQL, not on SQLite: keep field types consistent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from histoire.core.errors import InvalidInputError
from histoire.store.transactions import Transaction

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Documents:
    """JSON documents by key in one table: get, put, delete, find by field."""

    def __init__(self, tx: Transaction, table: str, *, empty: bool = False) -> None:
        self._tx = tx
        self._table = table
        self._pg = tx.dialect == "postgresql"
        # A reader's view of a table no handler has written yet: no documents.
        self._empty = empty

    def create(self) -> None:
        """Create the table if it does not exist."""
        kind = "jsonb" if self._pg else "TEXT"
        self._tx.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} (key TEXT PRIMARY KEY, doc {kind} NOT NULL)"
        )

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    def get(self, key: str) -> dict[str, Any] | None:
        """The document stored under `key`, or None."""
        _check_key(key)
        if self._empty:
            return None
        rows = self._tx.execute(self._q(f"SELECT doc FROM {self._table} WHERE key = ?"), (key,))
        return self._load(rows[0][0]) if rows else None

    def put(self, key: str, doc: Mapping[str, Any] | msgspec.Struct) -> None:
        """Store `doc` under `key`, replacing what was there."""
        _check_key(key)
        try:
            text = _encode(doc).decode()
        except (TypeError, msgspec.EncodeError) as exc:
            raise InvalidInputError(f"document {key!r} cannot be stored as JSON: {exc}") from exc
        cast = "::jsonb" if self._pg else ""
        self._tx.execute(
            self._q(
                f"INSERT INTO {self._table} (key, doc) VALUES (?, ?{cast}) "
                "ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
            ),
            (key, text),
        )

    def delete(self, key: str) -> None:
        """Remove the document under `key` (nothing if there is none)."""
        _check_key(key)
        self._tx.execute(self._q(f"DELETE FROM {self._table} WHERE key = ?"), (key,))

    def find(self, **fields: Any) -> list[tuple[str, dict[str, Any]]]:
        """The (key, document) pairs whose top-level `fields` equal the given values, by key."""
        if self._empty:
            return []
        where: list[str] = []
        params: list[Any] = []
        for name, value in fields.items():
            if not _FIELD.fullmatch(name):
                raise InvalidInputError(f"cannot query documents by field {name!r}")
            if self._pg:
                where.append("doc @> ?::jsonb")
                params.append(_encode({name: value}).decode())
            elif value is None:
                where.append(f"json_type(doc, '$.{name}') = 'null'")
            else:
                where.append(f"json_extract(doc, '$.{name}') = json_extract(?, '$')")
                params.append(_encode(value).decode())
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._tx.execute(
            self._q(f"SELECT key, doc FROM {self._table}{clause} ORDER BY key"), params
        )
        return [(key, self._load(doc)) for key, doc in rows]

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self.find())

    def count(self) -> int:
        """How many documents the table holds."""
        if self._empty:
            return 0
        return int(self._tx.execute(f"SELECT count(*) FROM {self._table}")[0][0])

    @staticmethod
    def _load(doc: Any) -> dict[str, Any]:
        if isinstance(doc, dict):  # psycopg decodes jsonb itself
            return doc
        loaded: dict[str, Any] = _decode(doc)
        return loaded


def _check_key(key: object) -> None:
    """Raise InvalidInputError unless `key` is text both databases can hold."""
    if not isinstance(key, str):
        raise InvalidInputError(f"a document key must be a str, not {type(key).__name__}")
    if "\x00" in key or (not key.isascii() and _SURROGATE.search(key)):
        raise InvalidInputError(
            f"document key {key!r} holds a NUL or a lone surrogate, which no database stores"
        )
