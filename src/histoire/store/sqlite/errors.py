"""SQLite's errors as histoire's: converted where they arise, by SQLite's own error code."""

from __future__ import annotations

import sqlite3

from histoire.core.errors import (
    CorruptDatabaseError,
    IntegrityError,
    SchemaError,
    StoreError,
    StoreFullError,
    StoreUnavailableError,
)

# SQLite's primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _CONSTRAINT, _NOTADB = (
    5,
    6,
    8,
    11,
    13,
    14,
    19,
    26,
)


def _code(error: sqlite3.Error) -> int:
    return int(getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF


def is_busy(error: sqlite3.Error) -> bool:
    """Whether `error` says another connection holds the lock (worth waiting for)."""
    if _code(error) in (_BUSY, _LOCKED):
        return True
    message = str(error)
    return "locked" in message or "busy" in message


def is_corruption(error: sqlite3.Error) -> bool:
    """Whether `error` says the file is damaged or is not an SQLite database."""
    if _code(error) in (_CORRUPT, _NOTADB):
        return True
    message = str(error)
    return "malformed" in message or "not a database" in message


DRIVER_ERRORS = (sqlite3.Error, UnicodeDecodeError)
"""What SQLite calls raise: sqlite3's errors, and UnicodeDecodeError when a damaged page
makes SQLite return text (a message, a schema entry) that is not UTF-8."""


def convert(error: sqlite3.Error | UnicodeDecodeError, doing: str) -> StoreError:
    """The histoire error for a driver error met while `doing` something."""
    if isinstance(error, UnicodeDecodeError):
        return CorruptDatabaseError(doing, f"SQLite returned text that is not UTF-8 ({error})")
    message = str(error)
    code = _code(error)
    if is_busy(error):
        return StoreUnavailableError(
            f"{doing}: the database stayed locked by another writer ({message})"
        )
    if is_corruption(error):
        return CorruptDatabaseError(doing, message)
    if code == _FULL:
        return StoreFullError(doing, message)
    if isinstance(error, sqlite3.IntegrityError) or code == _CONSTRAINT or "immutable" in message:
        return IntegrityError(f"{doing}: {message}")
    if code == _READONLY:
        return StoreError(
            f"{doing}: {message}: the file or its folder is not writable by this user; "
            "to read it, open the store with read_only=True (?mode=ro in the URL)"
        )
    if code == _CANTOPEN:
        return StoreError(
            f"{doing}: {message}: check that the file and its folder exist and can be read"
        )
    if "no such table" in message:
        return SchemaError(f"{doing}: the histoire schema is missing ({message})")
    return StoreError(f"{doing}: {message}")
