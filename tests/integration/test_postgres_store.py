"""The PostgreSQL store beyond the contract: schema, database-enforced rules, errors, locking."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from histoire import (
    ANY,
    START,
    InvalidInputError,
    InvalidStoreURLError,
    NewEvent,
    SchemaError,
    Snapshot,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
    open_store,
)
from histoire.store.postgres import PostgresEventStore, migrate
from histoire.store.postgres.connect import adapters
from histoire.store.postgres.pool import execute
from histoire.store.postgres.schema import apply_migrations, latest_version, migrations, parse_url
from histoire.store.postgres.sql import append_params, category_mode, read_log_params, statements

from .._services import _free_port, fresh_postgres_schema, postgres_url_or_skip, settled_head
from .closing import close_under_load

pytestmark = pytest.mark.postgres

Opener = Callable[..., PostgresEventStore]


def new_events(count: int, type: str = "test.Happened") -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type=type, schema_version=1, data=b'{"n":1}')
        for _ in range(count)
    ]


def with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


@pytest.fixture
def url() -> str:
    return postgres_url_or_skip()


@pytest.fixture
def raw(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def schema_exists(raw: psycopg.Connection[Any], schema: str) -> bool:
    return (
        raw.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        is not None
    )


# -- schema and URL ---------------------------------------------------------------


def test_create_false_on_a_missing_schema_raises_and_creates_nothing(
    url: str, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """Opening a store that is not there with create=False names it and creates nothing."""
    with pytest.raises(StoreNotFoundError) as caught:
        PostgresEventStore(url, schema=schema, create=False)
    assert schema in str(caught.value)
    assert not schema_exists(raw, schema)
    with pytest.raises(StoreNotFoundError):
        open_store(with_query(url, f"schema={schema}"), create=False)
    assert not schema_exists(raw, schema)


def test_the_schema_can_be_named_in_the_url(
    url: str, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """`?schema=name` chooses the schema and is not handed to libpq."""
    store = open_store(with_query(url, f"schema={schema}"))
    try:
        store.append("account-1", new_events(2))
    finally:
        store.close()
    count = raw.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()
    assert count == (2,)
    reopened = open_store(with_query(url, f"schema={schema}"), create=False)
    try:
        assert reopened.stream_version("account-1") == 2
    finally:
        reopened.close()


def test_a_schema_given_twice_differently_is_refused(url: str, schema: str) -> None:
    """A `?schema=` and a schema= argument that disagree are an error, not a guess."""
    with pytest.raises(InvalidStoreURLError):
        PostgresEventStore(with_query(url, "schema=other"), schema=schema)


@pytest.mark.parametrize("name", ["", "Upper", "with-dash", "1digit", "x" * 51, 'a"b'])
def test_a_bad_schema_name_is_refused(url: str, name: str) -> None:
    """Schema names are plain lowercase identifiers; anything else is refused up front."""
    with pytest.raises(InvalidInputError):
        PostgresEventStore(url, schema=name)


def test_migrate_returns_the_version_and_is_idempotent(
    url: str, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """migrate() creates the schema, returns its version, and does nothing the second time."""
    assert migrate(url, schema=schema) == latest_version()
    assert migrate(with_query(url, f"schema={schema}")) == latest_version()
    rows = raw.execute(
        f'SELECT version, name FROM "{schema}".schema_versions ORDER BY version'
    ).fetchall()
    assert rows == [(version, name) for version, name, _ in migrations()]
    assert rows[:6] == [
        (1, "0001_initial.sql"),
        (2, "0002_stream_order.sql"),
        (3, "0003_followers.sql"),
        (4, "0004_handled.sql"),
        (5, "0005_new_stream_first.sql"),
        (6, "0006_append_only_roles.sql"),
    ]


def _migrate_in_process(url: str, schema: str) -> int:
    return migrate(url, schema=schema)


def test_processes_migrating_at_once_are_safe(url: str, schema: str, open_pg: Opener) -> None:
    """Six processes migrating one new schema at once all succeed; it is created once."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(6, mp_context=context) as pool:
        versions = list(pool.map(_migrate_in_process, [url] * 6, [schema] * 6))
    assert versions == [latest_version()] * 6
    store = open_pg(create=False)
    assert store.integrity_problems() == []


def test_stores_opening_a_new_schema_at_once_are_safe(open_pg: Opener) -> None:
    """Threads opening the same new store at once (each migrating if needed) all succeed."""
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: open_pg(), range(6)))
    stores[0].append("account-1", new_events(1))
    assert all(s.stream_version("account-1") == 1 for s in stores)


def test_two_schemas_of_one_database_are_apart(url: str, open_pg: Opener) -> None:
    """Two applications in two schemas of one database do not see each other's events."""
    mine = open_pg()
    other_schema = fresh_postgres_schema(url)
    other = PostgresEventStore(url, schema=other_schema)
    try:
        mine.append("account-1", new_events(2))
        other.append("account-1", new_events(5))
        assert mine.stream_version("account-1") == 2
        assert len(list(mine.read_log())) == 2
        assert len(list(other.read_log())) == 5
    finally:
        other.close()


# -- rules the database enforces --------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {s}.events SET type = 'forged'",
        "DELETE FROM {s}.events",
        "DELETE FROM {s}.events WHERE false",
        "TRUNCATE {s}.events",
    ],
)
def test_the_database_refuses_to_change_stored_events(
    open_pg: Opener, schema: str, raw: psycopg.Connection[Any], statement: str
) -> None:
    """UPDATE, DELETE and TRUNCATE of events fail in the database itself, even as superuser."""
    store = open_pg()
    store.append("account-1", new_events(3))
    before = list(store.read_log())
    with pytest.raises(psycopg.errors.RestrictViolation, match="immutable"):
        raw.execute(statement.format(s=f'"{schema}"'))
    assert list(store.read_log()) == before


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {s}.events (event_id, stream_id, category, version, type, schema_version, "
        "data, metadata, recorded_at) VALUES (gen_random_uuid(), 'x-1', 'x', 0, 't', 1, '', "
        "'{{}}', now())",
        "INSERT INTO {s}.events (event_id, stream_id, category, version, type, schema_version, "
        "data, metadata, recorded_at) VALUES (gen_random_uuid(), 'x-1', 'x', 1, 't', 0, '', "
        "'{{}}', now())",
        "UPDATE {s}.streams SET version = 0",
    ],
)
def test_the_database_refuses_versions_below_1_on_a_store_upgraded_in_place(
    url: str, schema: str, raw: psycopg.Connection[Any], statement: str
) -> None:
    """A store upgraded from schema version 7 keeps its table files (no rewrite) and its
    events, and the database itself refuses a version or schema version below 1."""
    location = parse_url(url, schema)
    files = (
        "SELECT relname, relfilenode FROM pg_class "
        "WHERE relnamespace = %s::regnamespace AND relkind IN ('r', 'i') ORDER BY relname"
    )
    assert apply_migrations(raw, location, up_to=7) == 7
    with psycopg.connect(url, autocommit=True, context=adapters()) as conn:
        conn.execute(statements(schema).append, append_params("account-1", new_events(2), ANY))
    before = raw.execute(files, (schema,)).fetchall()
    assert apply_migrations(raw, location) == latest_version()
    assert raw.execute(files, (schema,)).fetchall() == before
    with pytest.raises(psycopg.errors.CheckViolation):
        raw.execute(statement.format(s=f'"{schema}"'))
    with PostgresEventStore(url, schema=schema, create=False) as store:
        assert [e.version for e in store.read_stream("account-1")] == [1, 2]
        assert store.append("account-1", new_events(1), 2).last_version == 3
        assert store.integrity_problems() == []


def test_integrity_problems_reports_a_disabled_trigger_and_a_hole(
    open_pg: Opener, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """integrity_problems() is empty on a healthy store and names each defect otherwise.

    Defects: a disabled trigger, a hole in a stream, the streams table out of step,
    an event with a transaction id from another cluster (which also puts the
    stream out of order in the log).
    """
    store = open_pg()
    store.append("account-1", new_events(2))
    assert store.integrity_problems() == []
    raw.execute(f'ALTER TABLE "{schema}".events DISABLE TRIGGER events_no_delete')
    raw.execute(
        f'INSERT INTO "{schema}".events (event_id, stream_id, category, version, type, '
        "schema_version, data) VALUES (%s, 'account-1', 'account', 5, 'forged', 1, '')",
        (uuid.uuid4(),),
    )
    raw.execute(
        f'INSERT INTO "{schema}".events (xid, event_id, stream_id, category, version, type, '
        "schema_version, data) VALUES (%s, %s, 'account-1', 'account', 3, 'forged', 1, '')",
        (1 << 60, uuid.uuid4()),
    )
    problems = store.integrity_problems()
    assert any("above the server's next one" in p for p in problems)
    assert any("events_no_delete" in p for p in problems)
    assert any("account-1" in p and "contiguous" in p for p in problems)
    assert any("stream table says version 2, events say 5" in p for p in problems)
    assert any("account-1" in p and "version 3 after version 5" in p for p in problems)
    assert len(problems) == 5, problems


def test_integrity_problems_reports_a_stream_out_of_version_order_in_the_log(
    open_pg: Opener, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """A stream whose events come in the log ((xid, position) order) not by version is named."""
    store = open_pg()
    store.append("account-1", new_events(2))
    insert = (
        f'INSERT INTO "{schema}".events (xid, event_id, stream_id, category, version, type, '
        "schema_version, data) VALUES (%s, %s, 's-1', 's', %s, 'forged', 1, '')"
    )
    for xid, version in [(100, 1), (300, 2), (200, 3), (400, 4), (350, 5)]:
        raw.execute(insert, (xid, uuid.uuid4(), version))
    raw.execute(
        f'INSERT INTO "{schema}".streams (stream_id, category, version, updated_at) '
        "VALUES ('s-1', 's', 5, now())"
    )
    assert store.integrity_problems() == [
        "stream s-1: events out of version order in the log, version 2 after version 3 (and 1 more)"
    ]


def test_an_event_the_database_cannot_keep_is_an_input_error(open_pg: Opener) -> None:
    """Text with a NUL character (refused by PostgreSQL) is InvalidInputError, nothing written."""
    store = open_pg()
    store.append("account-1", new_events(1))
    bad = [
        NewEvent(event_id=uuid.uuid4(), type="a\x00b", schema_version=1, data=b"{}"),
        NewEvent(
            event_id=uuid.uuid4(), type="ok", schema_version=1, data=b"{}", metadata={"k": "\x00"}
        ),
    ]
    for event in bad:
        with pytest.raises(InvalidInputError):
            store.append("account-1", [*new_events(1), event])
    assert store.stream_version("account-1") == 1
    assert len(list(store.read_log())) == 1


def test_recorded_fields_come_back_typed(open_pg: Opener) -> None:
    """recorded_at is UTC, ids are UUIDs, data is bytes, commit is the writing transaction."""
    store = open_pg()
    cause = uuid.uuid4()
    event = NewEvent(
        event_id=uuid.uuid4(),
        type="t",
        schema_version=2,
        data=b"\x00\xff not even json",
        metadata={"who": "ana", "n": [1, 2.5, None]},
        causation_id=cause,
    )
    result = store.append("account-1", [event])
    (read,) = store.read_stream("account-1")
    assert read == result.events[0]
    assert read.recorded_at.utcoffset() is not None and read.recorded_at.utcoffset().seconds == 0
    assert read.data == b"\x00\xff not even json"
    assert read.metadata == {"who": "ana", "n": [1, 2.5, None]}
    assert read.causation_id == cause and read.correlation_id is None
    assert read.commit == result.events[0].commit > 0
    assert read.checkpoint == settled_head(store)


def test_durability_is_synchronous_commit_unless_fast_is_asked(open_pg: Opener) -> None:
    """Sessions run with synchronous_commit on; durability='fast' alone turns it off."""

    def setting(store: PostgresEventStore) -> str:
        return str(
            store._db.run("reading", lambda c: c.execute("SHOW synchronous_commit").fetchone())[0]
        )

    assert setting(open_pg()) == "on"
    assert setting(open_pg(durability="fast")) == "off"


# -- errors -----------------------------------------------------------------------


def _replace_netloc(url: str, port: int | None = None, path: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rpartition('@')[0]}@127.0.0.1:{port}".lstrip("@")
    return urlunsplit(parts._replace(netloc=netloc, path=path if path is not None else parts.path))


def test_an_unreachable_server_is_store_unavailable_naming_the_host(url: str) -> None:
    """No server on the port: StoreUnavailableError, retryable, naming host and port."""
    port = _free_port()
    with pytest.raises(StoreUnavailableError) as caught:
        PostgresEventStore(_replace_netloc(url, port=port), connect_timeout=2)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.retryable
    assert "retry" in str(caught.value)


def test_a_missing_database_is_store_not_found(url: str) -> None:
    """A URL naming a database that does not exist: StoreNotFoundError, nothing created."""
    missing = _replace_netloc(url, path="/histoire_no_such_database")
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        PostgresEventStore(missing)


def test_a_schema_dropped_under_an_open_store_is_a_schema_error(
    open_pg: Opener, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """Tables gone under an open store: SchemaError telling what to do, not a driver error."""
    store = open_pg()
    for _ in range(6):  # long enough for psycopg to have prepared the statements
        store.append("account-1", new_events(1))
        list(store.read_log())
    raw.execute(f'DROP SCHEMA "{schema}" CASCADE')
    with pytest.raises(SchemaError, match="create=True"):
        store.append("account-1", new_events(1))
    with pytest.raises(SchemaError):
        list(store.read_log())


def test_the_password_of_the_url_stays_out_of_messages(url: str) -> None:
    """Errors show the URL without its password."""
    port = _free_port()
    secret = _replace_netloc(url, port=port).replace("://", "://someone:s3cret@", 1)
    secret = secret.replace("postgres@", "", 1) if "someone:s3cret@postgres@" in secret else secret
    with pytest.raises(StoreUnavailableError) as caught:
        PostgresEventStore(secret, connect_timeout=2)
    assert "s3cret" not in str(caught.value)


# -- following --------------------------------------------------------------------


@pytest.fixture
def private_url() -> str:
    """A server of this session's own, for tests that hold the horizon back on purpose."""
    return postgres_url_or_skip(private=True)


def test_a_notified_event_hidden_by_an_older_transaction_is_still_returned(
    private_url: str,
) -> None:
    """wait_for_events returns once a notified event shows, even if no later notify comes."""
    url, schema = private_url, fresh_postgres_schema(private_url)
    with (
        PostgresEventStore(url, schema=schema) as writer,
        PostgresEventStore(url, schema=schema) as follower,
    ):
        _hidden_then_returned(url, writer, follower)


def _hidden_then_returned(
    url: str, writer: PostgresEventStore, follower: PostgresEventStore
) -> None:
    writer.append("warm-1", new_events(1))
    mark = settled_head(follower)
    blocker = psycopg.connect(url)
    try:
        blocker.execute("SELECT pg_current_xact_id()")  # holds the horizon back, never notifies
        writer.append("account-1", new_events(1))
        # The notification arrives, but the event is not visible yet.
        assert follower.wait_for_events(mark, timeout=0.3) is False
        threading.Timer(0.3, blocker.commit).start()
        started = time.monotonic()
        assert follower.wait_for_events(mark, timeout=10) is True
        assert time.monotonic() - started < 5
    finally:
        time.sleep(0.35)
        blocker.close()
    assert [e.stream_id for e in follower.read_log(mark)] == ["account-1"]


def test_wait_for_events_wakes_on_notify_without_polling(open_pg: Opener) -> None:
    """A waiting follower wakes within a few milliseconds of an append by another handle."""
    writer, follower = open_pg(), open_pg()
    mark = settled_head(follower)
    follower.wait_for_events(mark, timeout=0)  # opens the LISTEN connection
    threading.Timer(0.2, lambda: writer.append("account-1", new_events(1))).start()
    started = time.monotonic()
    assert follower.wait_for_events(mark, timeout=10)
    assert time.monotonic() - started < 1.5


# -- docs/postgres.md ---------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "postgres.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def _as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_the_python_examples_of_the_postgres_docs_run(url: str, schema: str) -> None:
    """The docs' examples run against the test server, in a fresh schema."""
    namespace: dict[str, Any] = {}
    opened = []
    try:
        for block in _blocks("python"):
            code = re.sub(r"postgresql://[^\"?]+", url, block)
            code = code.replace("schema=histoire", f"schema={schema}")
            code = code.replace('schema="histoire"', f'schema="{schema}"')
            exec(compile(code, str(DOCS), "exec"), namespace)
            opened.append(namespace["store"])
        assert len(opened) == 2
        assert opened[-1].stream_version("account-1") == 0
    finally:
        for store in opened:
            store.close()


def test_the_application_role_of_the_docs_appends_and_reads_but_cannot_change_events(
    url: str, open_pg: Opener, schema: str, raw: psycopg.Connection[Any]
) -> None:
    """The GRANTs of docs/postgres.md are enough to use the store and no more."""
    (grants,) = [b for b in _blocks("sql") if "The application's role" in b]
    role = f"h_app_{uuid.uuid4().hex[:12]}"
    owner = open_pg()
    owner.append("account-1", new_events(1))
    script = (
        grants.replace("histoire_app", role)
        .replace("'change me'", "'s3cret'")
        .replace("SCHEMA histoire ", f'SCHEMA "{schema}" ')
        .replace("histoire.", f'"{schema}".')
    )
    try:
        raw.execute(script)
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("the test role may not create roles")
    try:
        as_app = _as_user(url, role, "s3cret")
        with PostgresEventStore(as_app, schema=schema, create=False) as app:
            result = app.append("account-1", new_events(2), 1)
            assert [e.version for e in app.read_stream("account-1")] == [1, 2, 3]
            assert list(app.read_log())[-1] == result.events[-1]
            app.save_snapshot(
                Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"{}")
            )
            app.save_snapshot(
                Snapshot(stream_id="account-1", version=3, schema_version=1, data=b"[]")
            )
            assert app.load_snapshot("account-1", schema_version=1) is not None
            assert app.wait_for_events(START, timeout=1)
            assert app.integrity_problems() == []
        with psycopg.connect(as_app, autocommit=True) as conn:
            for statement in ("UPDATE {}.events SET type = 'x'", "DELETE FROM {}.events"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement.format(f'"{schema}"'))
    finally:
        raw.execute(f'DROP OWNED BY "{role}"')
        raw.execute(f'DROP ROLE "{role}"')


def test_closing_the_store_ends_a_wait_in_progress(open_pg: Opener) -> None:
    """close() from another thread ends a waiting follower at once with StoreError."""
    store = open_pg()
    outcome: list[object] = []

    def wait() -> None:
        try:
            outcome.append(store.wait_for_events(START, timeout=30))
        except StoreError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    started = time.monotonic()
    store.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert time.monotonic() - started < 2
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError)
    with pytest.raises(StoreError, match="closed"):
        store.append("account-1", new_events(1))


def test_closing_the_store_while_threads_use_it_ends_them_cleanly(open_pg: Opener) -> None:
    """close() while other threads append, read and wait: each ends with StoreError, and
    every append that returned is stored."""
    close_under_load(open_pg(), open_pg())


def test_the_postgres_scheme_is_accepted(url: str, schema: str) -> None:
    """postgres:// URLs open the same store as postgresql:// ones."""
    short = url.replace("postgresql://", "postgres://", 1)
    store = open_store(short, schema=schema)
    try:
        store.append("account-1", new_events(1))
    finally:
        store.close()
    again = open_store(url, schema=schema, create=False)
    try:
        assert again.stream_version("account-1") == 1
    finally:
        again.close()


def test_an_append_is_one_statement(open_pg: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    """Appends of 1 and of 20 events each send one statement (one round trip), reads one each."""
    store = open_pg()
    store.append("account-1", new_events(1))
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query)[:60])
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    store.append("account-1", new_events(1), 1)
    assert len(sent) == 1, sent
    store.append("account-2", new_events(20))
    assert len(sent) == 2, sent
    assert len(list(store.read_stream("account-1"))) == 2
    assert len(sent) == 3, sent


def test_url_options_are_histoire_s_and_the_rest_goes_to_libpq() -> None:
    """schema and durability are taken out of the URL; other parameters stay; no password shown."""
    location = parse_url(
        "postgresql://ana:pw@db.example.com:6432/shop?sslmode=require&schema=app_1&durability=fast"
    )
    assert location.schema == "app_1"
    assert location.durability == "fast"
    assert location.conninfo == "postgresql://ana:pw@db.example.com:6432/shop?sslmode=require"
    assert location.display == "postgresql://ana:***@db.example.com:6432/shop?sslmode=require"
    assert location.host == "db.example.com:6432"
    assert location.channel == "app_1_appended"
    assert parse_url("postgres://db/shop").schema == "histoire"
    with pytest.raises(InvalidStoreURLError):
        parse_url("postgresql://db/shop?durability=sometimes")


def test_a_libpq_parameter_with_spaces_reaches_the_server_intact(url: str, schema: str) -> None:
    """`options=-c statement_timeout=1234` in the URL: the store's sessions run with it."""
    joiner = "&" if "?" in url else "?"
    given = f"{url}{joiner}options=-c%20statement_timeout%3D1234"
    store = PostgresEventStore(given, schema=schema)
    try:
        with store.transaction() as tx:
            assert tx.execute("SHOW statement_timeout") == [("1234ms",)]
    finally:
        store.close()


def test_events_with_and_without_optional_ids_in_one_append_round_trip(open_pg: Opener) -> None:
    """Arrays with NULL elements (no causation for some events) keep each event's own values."""
    store = open_pg()
    cause = uuid.uuid4()
    events = [
        NewEvent(
            event_id=uuid.uuid4(),
            type=f"t{i}",
            schema_version=i + 1,
            data=bytes([i]) * i,
            metadata={"i": i} if i % 2 else {},
            causation_id=cause if i % 2 else None,
            correlation_id=None if i % 3 else cause,
        )
        for i in range(5)
    ]
    result = store.append("account-1", events)
    read = list(store.read_stream("account-1"))
    assert read == list(result.events)
    for event, stored in zip(events, read, strict=True):
        assert (stored.type, stored.schema_version, stored.data) == (
            event.type,
            event.schema_version,
            event.data,
        )
        assert stored.metadata == event.metadata
        assert (stored.causation_id, stored.correlation_id) == (
            event.causation_id,
            event.correlation_id,
        )


@pytest.mark.parametrize(
    ("categories", "types"),
    [
        (None, None),
        (["account"], None),
        (["account", "cart"], None),
        (None, ["test.Happened"]),
        (["account"], ["test.Happened", "test.Other"]),
    ],
)
def test_a_log_batch_walks_an_index_in_log_order_whatever_the_statistics(
    url: str,
    open_pg: Opener,
    categories: list[str] | None,
    types: list[str] | None,
) -> None:
    """On a log never analysed (the planner then expects a handful of matching rows), a
    batch is still an index scan in (xid, position) order, costing its own rows, never a
    sort of every event after the checkpoint (which made a catch-up quadratic)."""
    store = open_pg()
    for n in range(20):
        store.append(f"account-{n}", new_events(50))
    query = store._reads.log(category_mode(categories), types is not None)
    params = read_log_params(0, 0, categories, types, 100)
    with psycopg.connect(url, autocommit=True) as conn:
        plan = "\n".join(row[0] for row in execute(conn, "ordered", "EXPLAIN " + query, params))
    assert "Index Scan" in plan and "Sort" not in plan, plan


def test_an_async_log_read_waits_for_an_older_transaction_that_ends_soon(
    private_url: str,
) -> None:
    """The async store's log read (head and first batch in one round trip) still gives an
    event committed before the call but hidden by an older transaction that ends within
    visibility_wait; with visibility_wait=0 it gives what shows at once."""
    import asyncio

    from histoire.store.postgres.async_store import AsyncPostgresEventStore

    url, schema = private_url, fresh_postgres_schema(private_url)

    async def scenario() -> None:
        store = await AsyncPostgresEventStore.open(url, schema=schema, visibility_wait=2.0)
        eager = await AsyncPostgresEventStore.open(url, schema=schema, visibility_wait=0)
        try:
            await store.append("warm-1", new_events(1))
            mark = await store.head()
            blocker = await psycopg.AsyncConnection.connect(url)
            try:
                await blocker.execute("SELECT pg_current_xact_id()")  # holds the horizon back
                await store.append("account-1", new_events(1))
                assert [e async for e in eager.read_log(mark)] == []
                asyncio.get_running_loop().call_later(0.3, asyncio.ensure_future, blocker.commit())
                started = time.monotonic()
                read = [e.stream_id async for e in store.read_log(mark)]
                assert read == ["account-1"] and time.monotonic() - started >= 0.2
            finally:
                await asyncio.sleep(0.35)
                await blocker.close()
        finally:
            await store.aclose()
            await eager.aclose()

    asyncio.run(scenario())


def test_a_command_waiting_for_the_only_connection_gets_it_when_the_holder_ends(
    open_pg: Opener,
) -> None:
    """With one pooled connection, a command that waits for it while a read-model
    transaction holds it gets it when the transaction ends (the store keeps an idle
    connection for its next command only while no one waits for the pool's)."""
    store = open_pg(pool_max=1, pool_timeout=5)
    store.append("account-1", new_events(1))  # the connection is now kept idle
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with store.transaction() as tx:
            tx.execute("SELECT 1")
            waiting = pool.submit(store.append, "account-2", new_events(1))
            time.sleep(0.3)
            assert not waiting.done()
            ended = time.monotonic()
        assert waiting.result(timeout=5).last_version == 1
        assert time.monotonic() - ended < 2
    assert store.append("account-1", new_events(1)).last_version == 2


def test_a_woken_read_gives_read_logs_first_batch_for_every_filter(open_pg: Opener) -> None:
    """`read_log_woken`, a live follower's read at the head, gives the events `read_log`
    gives from the same checkpoint, filters and limit; bad input is refused the same way."""
    store = open_pg()
    store.append("account-1", new_events(2, "bank.Opened"))
    start = settled_head(store)
    store.append("account-1", new_events(3, "bank.Deposited"), 2)
    store.append("cart-1", new_events(2, "cart.Added"))
    store.append("order-1", new_events(1, "order.Placed"))
    settled_head(store)
    for categories, types in [
        (None, None),
        (["account"], None),
        (["account", "order"], None),
        (None, ["bank.Deposited", "cart.Added"]),
        (["cart"], ["cart.Added"]),
        ([], None),
    ]:
        for limit in (1, 3, 100):
            woken = store.read_log_woken(start, categories=categories, types=types, limit=limit)
            read = list(store.read_log(start, categories=categories, types=types, limit=limit))
            assert [e.event_id for e in woken] == [e.event_id for e in read]
            assert [e.checkpoint for e in woken] == [e.checkpoint for e in read]
    assert [e.type for e in store.read_log_woken(start, limit=100)][:1] == ["bank.Deposited"]
    with pytest.raises(InvalidInputError):
        store.read_log_woken(start, limit=0)
    with pytest.raises(InvalidInputError):
        store.read_log_woken(start, categories="account", limit=10)  # type: ignore[arg-type]
