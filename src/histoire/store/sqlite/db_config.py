"""Turning triggers off on one SQLite connection on Python 3.11 (see `connect.skip_triggers`).

Python 3.12's `sqlite3.Connection.setconfig` calls SQLite's `sqlite3_db_config`;
3.11's driver has no such method. The function is the SQLite library's,
though, and ctypes can call it with the connection's `sqlite3 *` handle,
which CPython 3.11 keeps right after the object header of a
`sqlite3.Connection` (`pysqlite_Connection.db` in Modules/_sqlite/connection.h).
That is read only where the layout is known: CPython 3.11, a plain
`sqlite3.Connection`, a platform whose C calling convention passes variadic
arguments as fixed ones, and the very SQLite library the driver runs (the
function looked up through the driver's own module, its version the
driver's). The call is checked by reading the setting back. Anywhere else
the triggers stay on: correct, only slower.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
import sqlite3
import sys
from typing import Any

_ENABLE_TRIGGER = 1003  # SQLITE_DBCONFIG_ENABLE_TRIGGER
# Where variadic int and pointer arguments go where fixed ones do (not Apple's arm64).
_MACHINES = frozenset({"x86_64", "amd64", "aarch64"})


def _db_config() -> Any | None:
    """SQLite's `sqlite3_db_config` as the driver runs it, or None where it cannot be used."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return None
    if platform.machine().lower() not in _MACHINES:
        return None
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        version = library.sqlite3_libversion_number
        function = library.sqlite3_db_config
    except (ImportError, OSError, AttributeError):
        return None
    version.restype = ctypes.c_int
    major, minor, patch = sqlite3.sqlite_version_info
    if version() != major * 1_000_000 + minor * 1_000 + patch:
        return None
    function.restype = ctypes.c_int
    return function


def available() -> bool:
    """Whether `disable_triggers` can work here (CPython 3.11 on a known platform)."""
    return _db_config() is not None


def disable_triggers(conn: sqlite3.Connection) -> bool:
    """Turn triggers off on `conn` alone through ctypes where that is safe (see above);
    whether they are off."""
    if type(conn) is not sqlite3.Connection:
        return False
    function = _db_config()
    if function is None:
        return False
    handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
    if not handle:
        return False
    db = ctypes.c_void_p(handle)
    state = ctypes.c_int(-1)
    with contextlib.suppress(ctypes.ArgumentError):
        if function(db, _ENABLE_TRIGGER, -1, ctypes.byref(state)) != 0 or state.value not in (0, 1):
            return False
        if function(db, _ENABLE_TRIGGER, 0, ctypes.byref(state)) == 0 and state.value == 0:
            return True
    return False
