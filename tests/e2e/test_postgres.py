"""The command line on PostgreSQL: the demo, then the read commands, in a fresh schema."""

from __future__ import annotations

from typing import Any

import pytest

from tests._services import fresh_postgres_schema, postgres_url, require_services

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_store_url() -> str:
    """The URL of a new, empty schema on a reachable server (skip if there is none)."""
    url = postgres_url()
    if url is None:
        message = "PostgreSQL is not reachable (see tests/_services.py)"
        if require_services():
            pytest.fail(message + " and HISTOIRE_REQUIRE_SERVICES=1")
        pytest.skip(message)
    schema = fresh_postgres_schema(url)
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def test_the_demo_and_the_read_commands_run_on_postgres(
    histoire: Any, postgres_store_url: str
) -> None:
    """The demo tells its story into PostgreSQL; streams, log and verify read it back."""
    demo = histoire("--store", postgres_store_url, "demo")
    assert demo.code == 0, demo.stderr
    assert "snapshot at version 5" in demo.stdout
    assert "histoire --store" in demo.stdout
    streams = histoire("--store", postgres_store_url, "streams", "--json").json_lines()
    assert [s["stream_id"] for s in streams] == [
        "account-ada",
        "alerts-support",
        "cart-ada",
        "cart-bob",
        "cart-chloe",
    ]
    log = histoire("--store", postgres_store_url, "log", "--json").json_lines()
    assert len(log) == sum(s["version"] for s in streams)
    resumed = histoire(
        "--store",
        postgres_store_url,
        "log",
        "--from",
        f"{log[9]['commit']}:{log[9]['position']}",
        "--json",
    ).json_lines()
    assert [e["event_id"] for e in resumed] == [e["event_id"] for e in log[10:]]
    verify = histoire("--store", postgres_store_url, "verify")
    assert verify.code == 0, verify.stdout
    again = histoire("--store", postgres_store_url, "demo")
    assert again.code == 1
    assert "already holds events" in again.stderr
