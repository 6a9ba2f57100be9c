"""Finding the local services the integration tests need.

Tests that need a service skip with the reason when it is missing, unless
HISTOIRE_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.
"""

from __future__ import annotations

import os


def require_services() -> bool:
    """Whether a missing service must fail the run instead of skipping."""
    return os.environ.get("HISTOIRE_REQUIRE_SERVICES") == "1"


def postgres_url() -> str | None:
    """A URL of a reachable PostgreSQL server, or None.

    Filled in by the PostgreSQL backend work: HISTOIRE_TEST_POSTGRES_URL, the
    local server, or a temporary cluster started with initdb.
    """
    return None


def fresh_postgres_schema(url: str) -> str:
    """Create a new, empty schema for one test and return its name."""
    raise NotImplementedError
