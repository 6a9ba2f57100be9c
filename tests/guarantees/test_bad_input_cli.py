"""Bad input, property-based, through the command line: hostile names in every option.

Stream ids, categories, types, checkpoints, projection names and store URLs
(a PostgreSQL schema name, a SQLite path) of any text: the command answers
(exit 0), refuses with a one-line error (exit 1, or 2 for a usage error),
never prints a traceback or an internal error ("a bug in histoire"), and never changes the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histoire import open_store, validate_stream_id
from histoire.cli import cli
from histoire.testing._contract.support import new_event

from .._services import fresh_postgres_schema, postgres_url_or_skip
from .strategies import SQL_PIECES, examples, names

pytestmark = pytest.mark.guarantees

HOSTILE_ID = "account-'); DROP TABLE events; --%s?$1\\\u2019é"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store holding three events, one in a stream with a hostile (valid) id."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        base = postgres_url_or_skip()
        url = f"{base}?schema={fresh_postgres_schema(base)}"
    store = open_store(url)
    try:
        store.append("account-1", [new_event("bank.Opened"), new_event("bank.Deposited")])
        store.append(validate_stream_id(HOSTILE_ID), [new_event("bank.Opened")])
    finally:
        store.close()
    yield url


def invoke(url: str, *args: str) -> Any:
    """Run `histoire --store URL ARGS`; the result."""
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


def assert_clean(result: Any, command: tuple[str, ...]) -> None:
    """Exit 0, 1 or 2, and no traceback nor internal error in what it printed."""
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 1, 2), (command, result.exit_code, output[-500:])
    assert "Traceback" not in output, (command, output[-2000:])
    assert "a bug in histoire" not in result.stderr, (command, result.stderr[-2000:])
    if result.exit_code:
        assert result.stderr.strip(), (command, "an error without a message")


def snapshot_of(url: str) -> list[tuple[str, int]]:
    """Every stream of the store with its version (not read_log: on PostgreSQL another
    session's transaction may hide new events for a moment)."""
    store = open_store(url, create=False)
    try:
        return [(s.stream_id, s.version) for s in store.list_streams()]
    finally:
        store.close()


FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def test_the_hostile_stream_is_shown_exactly(store_url: str) -> None:
    """A stream id full of quotes, `;`, `--`, `%s`, `?`, `$1`, a backslash and a curly quote is
    listed and shown byte for byte."""
    result = invoke(store_url, "events", HOSTILE_ID, "--json")
    assert result.exit_code == 0, result.stderr
    assert [line["stream_id"] for line in map(json.loads, result.stdout.splitlines())] == [
        HOSTILE_ID
    ]
    streams = invoke(store_url, "streams", "--json")
    assert HOSTILE_ID in [json.loads(line)["stream_id"] for line in streams.stdout.splitlines()]


@settings(max_examples=examples(40), deadline=None, suppress_health_check=FIXTURE)
@given(name=names.filter(lambda n: "\x00" not in n), which=st.integers(min_value=0, max_value=8))
def test_any_name_in_any_option_is_answered_or_refused_cleanly(
    store_url: str, name: str, which: int
) -> None:
    """events, log, streams, verify and projections get the name where a stream id,
    category, type, checkpoint or projection goes; each answers or refuses in one line,
    and the store is unchanged. (A NUL cannot be in a command line argument.)"""
    before = snapshot_of(store_url)
    command = [
        ("events", name, "--json"),
        ("events", name, "--backward", "--limit", "1"),
        ("log", "--category", name, "--json"),
        ("log", "--type", name),
        ("log", "--from", name),
        ("streams", "--category", name),
        ("projections", "status", name),
        ("reactions", "retry", name),
        ("projections", "skip", name, name),
    ][which]
    result = invoke(store_url, *command)
    assert_clean(result, command)
    if which == 0 and result.exit_code == 0:
        shown = [json.loads(line)["stream_id"] for line in result.stdout.splitlines()]
        assert set(shown) <= {name}
    assert snapshot_of(store_url) == before


@settings(max_examples=examples(40), deadline=None, suppress_health_check=FIXTURE)
@given(
    schema=st.one_of(
        st.lists(st.sampled_from(SQL_PIECES), min_size=1, max_size=5).map("".join),
        st.text(max_size=60),
    ).filter(lambda s: s.isascii() or not any("\ud800" <= c <= "\udfff" for c in s))
)
def test_a_hostile_schema_name_in_a_postgresql_url_is_refused_before_any_sql(
    schema: str,
) -> None:
    """`?schema=` of any text: refused with a one-line error naming the schema (exit 1
    or 2) unless it is a plain lowercase name; no schema is ever created by a read."""
    base = postgres_url_or_skip()
    url = f"{base}?schema={quote(schema, safe='')}"
    named = schema.replace("\x00", "")  # NUL: the only character no PostgreSQL name holds

    def exists() -> bool:
        with psycopg.connect(base, autocommit=True) as conn:
            query = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
            return conn.execute(query, (named,)).fetchone() is not None

    existed = exists()
    for command in (("streams",), ("verify",), ("log", "--limit", "1")):
        result = invoke(url, *command)
        assert_clean(result, command)
        if result.exit_code:
            assert "schema" in result.stderr or "store" in result.stderr, result.stderr
    assert exists() == existed
