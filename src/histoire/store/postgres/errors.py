"""psycopg errors turned into histoire's, where they arise (sync and async edges alike).

Class by class (SQLSTATE): connection lost, server starting or shutting down,
too many connections, lock or statement timeouts, serialisation failures =>
StoreUnavailableError (retryable); disk full => StoreFullError (retryable);
missing schema, table or function => SchemaError; constraint and trigger
refusals => IntegrityError; bad data => InvalidInputError; a database that
does not exist => StoreNotFoundError.
"""

from __future__ import annotations

import psycopg
import psycopg_pool

from histoire.core.errors import (
    HistoireError,
    IntegrityError,
    InvalidInputError,
    SchemaError,
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from histoire.store.postgres.schema import PostgresLocation

EVENT_ID_CONSTRAINT = "events_event_id_key"

# SQLSTATEs after which the same operation may work if retried a little later.
_RETRYABLE = {
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up, shutting down, in recovery)
    "53300",  # too_many_connections
    "53400",  # configuration_limit_exceeded
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "25006",  # read_only_sql_transaction (a standby, or a failover in progress)
}
_MISSING_SCHEMA = {
    "3F000",  # invalid_schema_name
    "42P01",  # undefined_table
    "42883",  # undefined_function
    "42703",  # undefined_column
}


def is_connection_lost(error: BaseException) -> bool:
    """Whether `error` means the connection or server went away (not the statement's fault)."""
    if isinstance(error, psycopg_pool.PoolClosed):
        return False
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        state = getattr(error, "sqlstate", None)
        return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return False


def convert(error: BaseException, doing: str, location: PostgresLocation) -> HistoireError:
    """The histoire error for a psycopg (or pool) error met while `doing` something."""
    message = _one_line(error)
    if isinstance(error, psycopg_pool.PoolClosed):
        return StoreError(f"{doing}: the store of {location.display} is closed")
    if isinstance(error, psycopg_pool.PoolTimeout):
        return StoreUnavailableError(
            f"{doing}: no connection to PostgreSQL at {location.host} in time ({message}); "
            "the server may be down or restarting, or every pooled connection busy; retry later"
        )
    state = getattr(error, "sqlstate", None) or _connect_failure_state(message)
    if state == "3D000":
        return StoreNotFoundError(f"{location.display} (the database does not exist: {message})")
    if state is not None and state.startswith("28"):
        return StoreError(
            f"{doing}: PostgreSQL at {location.host} refused the login ({message}); "
            "check the user and password of the URL"
        )
    if (
        is_connection_lost(error)
        or state in _RETRYABLE
        or (state is not None and state.startswith("08"))
    ):
        return StoreUnavailableError(
            f"{doing}: PostgreSQL at {location.host} is unavailable ({message}); it may be "
            "down or restarting: check that it runs, then retry"
        )
    if state == "53100":  # disk_full: the server's own words, without the SQL of its context
        primary = getattr(getattr(error, "diag", None), "message_primary", None)
        return StoreFullError(f"{doing} ({location.display})", primary or message)
    if state in _MISSING_SCHEMA:
        return SchemaError(
            f"{doing}: the histoire schema {location.schema!r} of {location.display} is missing "
            f"or incomplete ({message}); open the store with create=True or run migrate(url)"
        )
    if state == "42501":
        return StoreError(
            f"{doing}: permission denied in {location.display} ({message}); "
            "see docs/postgres.md for the privileges a histoire role needs"
        )
    if (state is not None and state.startswith("23")) or isinstance(error, psycopg.IntegrityError):
        return IntegrityError(f"{doing}: {message}")
    if (state is not None and state.startswith("22")) or isinstance(error, psycopg.DataError):
        return InvalidInputError(f"{doing}: PostgreSQL refused the data ({message})")
    return StoreError(f"{doing}: {message}")


def constraint_of(error: BaseException) -> str | None:
    """The name of the constraint a unique violation hit, if any."""
    if isinstance(error, psycopg.errors.UniqueViolation):
        return error.diag.constraint_name
    return None


def _connect_failure_state(message: str) -> str | None:
    """The SQLSTATE of a failed connection, which libpq reports as text only."""
    if "FATAL:" not in message:
        return None
    if "database" in message and "does not exist" in message:
        return "3D000"
    if (
        "authentication failed" in message
        or "pg_hba.conf" in message
        or ("role" in message and "does not exist" in message)
    ):
        return "28000"
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__
