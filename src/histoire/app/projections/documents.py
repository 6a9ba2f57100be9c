"""A small portable read model: JSON documents by key, in a table the projection owns.

The same projection code runs on SQLite and PostgreSQL (and on the memory
store, whose read models are SQLite in memory)::

    accounts = ctx.documents("accounts")
    accounts.put("account-1", {"owner": "Ada", "cents": 0})
    accounts.get("account-1")            # {"owner": "Ada", "cents": 0}
    accounts.find(owner="Ada")           # [("account-1", {...})]

`find` matches top-level fields by JSON equality, the same on every backend:
an array equals an array of the same items in the same order, an object an
object of the same fields whatever their order (documents are stored with
their keys sorted). Two differences remain, kept consistent field types avoid
both: 1 and true differ on PostgreSQL, not on SQLite; numbers inside a nested
array or object compare by value on PostgreSQL, by their JSON text on SQLite
(1 and 1.0 differ there).

What no backend could store the same way is refused before any SQL is sent,
with InvalidInputError naming the document: a document that is not a JSON
object, a NUL character (PostgreSQL's jsonb refuses it), a lone surrogate,
and NaN or infinity (JSON has no such numbers; they would come back as null).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from histoire.core.errors import InvalidInputError
from histoire.store.transactions import Transaction

_encode = msgspec.json.Encoder(order="sorted").encode  # equal objects, equal text
_decode = msgspec.json.Decoder().decode
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash + u0000


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
        """Store `doc` (a JSON object: a dict, a Struct, a dataclass) under `key`, replacing
        what was there."""
        _check_key(key)
        text = _json(doc, f"document {key!r}")
        if not text.startswith("{"):
            raise InvalidInputError(
                f"document {key!r} must be a JSON object (a dict, a Struct, a dataclass), "
                f"not {type(doc).__name__}: find looks documents up by their fields"
            )
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
            text = _json(value, f"the value of {name!r} looked up")
            if self._pg:  # jsonb equality: not `@>`, which also takes bigger arrays and objects
                where.append(f"doc -> '{name}' = ?::jsonb")
                params.append(text)
            elif value is None:
                where.append(f"json_type(doc, '$.{name}') = 'null'")
            else:
                where.append(f"json_extract(doc, '$.{name}') = json_extract(?, '$')")
                params.append(text)
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


def _json(value: object, what: str) -> str:
    """`value` as JSON text, or InvalidInputError naming `what` if a backend could not
    store it as it is (see the module's doc)."""
    try:
        text = _encode(value).decode()
    except (TypeError, msgspec.EncodeError, UnicodeEncodeError) as exc:
        why = "the keys of a JSON object are text" if "str keys" in str(exc) else str(exc)
        raise InvalidInputError(f"{what} cannot be stored as JSON: {why}") from exc
    if "\\u0000" in text and _NUL.search(text):
        raise InvalidInputError(f"{what} holds a NUL character, which PostgreSQL does not store")
    if "null" in text and _has_nan(value):
        raise InvalidInputError(
            f"{what} holds NaN or infinity, which JSON cannot hold (it would read back as null)"
        )
    return text


def _has_nan(value: object) -> bool:
    """Whether `value` holds a float NaN or infinity (checked only when its JSON has a null)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nan(item) for item in value)
    if isinstance(value, msgspec.Struct):
        return any(_has_nan(item) for item in msgspec.structs.astuple(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_has_nan(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _check_key(key: object) -> None:
    """Raise InvalidInputError unless `key` is text both databases can hold."""
    if not isinstance(key, str):
        raise InvalidInputError(f"a document key must be a str, not {type(key).__name__}")
    if "\x00" in key or (not key.isascii() and _SURROGATE.search(key)):
        raise InvalidInputError(
            f"document key {key!r} holds a NUL or a lone surrogate, which no database stores"
        )
