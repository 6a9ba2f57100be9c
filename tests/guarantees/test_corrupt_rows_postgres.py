"""Rows corrupted in the PostgreSQL table, as a superuser could: verify names them, nothing crashes.

The twin of tests/property/test_corrupt_rows.py (SQLite). One column of one
row gets any value of the column's type (the update trigger disabled for the
edit, then restored, and the row put back after each example): `verify` never
raises, reports a defect whenever the value is one histoire never writes, and
the read commands of the CLI answer or refuse in one line.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from psycopg import sql

import histoire
from histoire import open_store, validate_stream_id
from histoire.cli import cli
from histoire.core.streams import MAX_TYPE_LENGTH, name_problem
from histoire.examples.catalog import make_codec
from histoire.store.postgres import PostgresEventStore

from .._services import fresh_postgres_schema, postgres_url_or_skip
from ..domains import two_bank_accounts
from .strategies import examples, names

pytestmark = [pytest.mark.guarantees, pytest.mark.postgres]

JSONB_TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
"""What jsonb holds in a string: no NUL (\u0000) and no lone surrogate."""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON numbers: what jsonb holds
    | st.text(JSONB_TEXT, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(JSONB_TEXT, max_size=4), inner)
    ),
    max_leaves=6,
)
no_nul = names.filter(lambda n: "\x00" not in n and not any("\ud800" <= c <= "\udfff" for c in n))
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "stream_id": no_nul,
    "category": no_nul,
    "type": no_nul,
    "version": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "schema_version": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "data": st.binary(max_size=12) | json_values.map(lambda v: json.dumps(v).encode()),
    "metadata": json_values.map(json.dumps),
    "event_id": st.uuids(),
    "causation_id": st.none() | st.uuids(),
    "correlation_id": st.none() | st.uuids(),
    "recorded_at": st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC),
    ),
}
CAST = {"metadata": "::jsonb"}


@pytest.fixture(scope="module")
def bank_store() -> Iterator[tuple[str, str]]:
    """Two accounts of three events each, written through histoire: (url, schema)."""
    url = postgres_url_or_skip()
    schema = fresh_postgres_schema(url)
    store = PostgresEventStore(url, schema=schema)
    two_bank_accounts(store)
    store.close()
    yield url, schema


def edit(url: str, schema: str, column: str, position: int, value: Any) -> Any:
    """Set `column` of the row at `position` to `value`, as a superuser; the old value."""
    events = sql.Identifier(schema, "events")
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        old = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE position = %s").format(sql.Identifier(column), events),
            (position,),
        ).fetchone()
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER events_no_update").format(events))
        conn.execute(
            sql.SQL("UPDATE {} SET {} = %s" + CAST.get(column, "") + " WHERE position = %s").format(
                events, sql.Identifier(column)
            ),
            (value, position),
        )
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER events_no_update").format(events))
    assert old is not None
    return old[0]


def malformed(column: str, value: Any, original: Any, stream_id: str) -> bool:
    """Whether histoire never writes `value` in `column` of that row."""
    if value == original:
        return False
    if column == "stream_id":
        return True  # another stream's versions get a hole or a double, or the id is invalid
    if column == "category":
        return bool(value != stream_id.partition("-")[0])
    if column == "version":
        return True  # a hole or a double in the stream
    if column == "schema_version":
        return bool(value < 1)
    if column == "type":  # a name the codec does not know is counted, not condemned
        return name_problem(value, MAX_TYPE_LENGTH) is not None
    if column == "data":
        try:
            json.loads(value)
        except ValueError:
            return True
        return False  # JSON, maybe not the class's fields: decoding says (not asserted)
    if column == "metadata":
        return not isinstance(json.loads(value), dict)
    return False  # ids and times histoire could have written


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(column=st.sampled_from(sorted(VALUES)), position=st.integers(1, 6), data=st.data())
def test_verify_names_any_corrupted_row_and_never_crashes(
    bank_store: tuple[str, str], column: str, position: int, data: st.DataObject
) -> None:
    """Any value of the column's type in any column of any row: verify reports a defect when
    histoire never writes it there, never raises; the CLI's read commands never crash."""
    url, schema = bank_store
    value = data.draw(VALUES[column], label="value")
    try:
        original = edit(url, schema, column, position, value)
    except (psycopg.errors.IntegrityError, psycopg.errors.CheckViolation):
        reject()  # the database itself refused it (NOT NULL, CHECK, UNIQUE)
    try:
        store = open_store(f"{url}?schema={schema}", create=False)
        try:
            report = histoire.verify(store, make_codec())
        finally:
            store.close()
        stream_id = "account-1" if position <= 3 else "account-2"
        if malformed(column, value, original, stream_id):
            assert not report.ok, (column, value)
        runner = CliRunner()
        for command in (["verify"], ["log", "--json"], ["streams"], ["events", stream_id]):
            result = runner.invoke(
                cli, ["--store", f"{url}?schema={schema}", *command], catch_exceptions=False
            )
            assert result.exit_code in (0, 1), (command, result.stderr)
            assert "a bug in histoire" not in result.stderr, (command, result.stderr)
    finally:
        edit(url, schema, column, position, json.dumps(original) if column in CAST else original)


def test_the_untouched_store_verifies_clean(bank_store: tuple[str, str]) -> None:
    """The base the property edits is sound (so a defect found is the edit's)."""
    url, schema = bank_store
    store = open_store(f"{url}?schema={schema}", create=False)
    try:
        assert histoire.verify(store, make_codec()).ok
        assert [validate_stream_id(s.stream_id) for s in store.list_streams()] == [
            "account-1",
            "account-2",
        ]
    finally:
        store.close()
