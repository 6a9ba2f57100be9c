"""The guarantee suites' fixtures: a fresh store URL per test, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .._services import fresh_postgres_schema, postgres_url_or_skip


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A URL and options (`schema` on PostgreSQL) of a new, empty store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}", {}
    url = postgres_url_or_skip()
    return url, {"schema": fresh_postgres_schema(url)}
