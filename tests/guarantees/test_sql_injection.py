"""No SQL is built from user input: names are validated then quoted, values are parameters.

Two halves. A review, automated: every f-string, `.format` and `+` of histoire
that builds SQL text is listed, with what it interpolates, and each of those
is in `REVIEWED` with why it cannot come from a user (a new one fails this
test until someone reviews it). And SQL metacharacters fed where a name or
value reaches SQL that the other suites do not cover: read-model table names,
document keys and fields, quoted identifiers. (Stream ids, categories, types,
metadata: tests/guarantees/test_bad_input_store.py; schema names in URLs and
every CLI option: test_bad_input_cli.py; projection checkpoints and roles:
test_postgres_roles.py.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import histoire
from histoire import EventStore, InvalidInputError, Projection
from histoire.app.projections.definition import validate_name
from histoire.app.projections.documents import Documents
from histoire.store.transactions import TransactionalStore, quote_identifier

from .strategies import examples, names

pytestmark = pytest.mark.guarantees

SOURCE = Path(histoire.__file__).parent
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|GRANT|PRAGMA|FROM|WHERE|"
    r"VALUES|JOIN|ORDER BY|SET|LIMIT|json_\w+)\b|'\$\."
)

# Each expression interpolated into SQL text, and why no user input reaches it unchecked.
REVIEWED = {
    "s": "the schema as sql.Identifier(...).as_string(): quoted, and validated by parse_url",
    "EVENT_COLUMNS": "a constant column list",
    "HORIZON": "a constant SQL expression",
    "COLUMNS": "a constant column list",
    "_COLUMNS": "a constant column list",
    "_STREAM_COLUMNS": "a constant column list",
    "_ENVELOPE_COLUMNS": "a constant column list",
    "columns": "one of the module's constant column lists (_LOG_COLUMNS, _LOG_PAYLOAD_COLUMNS)",
    "_CATEGORY_OF": "a constant SQL expression",
    "MAX_REPORTED": "an int constant",
    "marks": "placeholders (?, %s) repeated by a count",
    "_INSERT_HEAD": "a constant INSERT INTO histoire_events (columns) head",
    "row_placeholders": "a constant row of placeholders repeated by a count",
    "_IF_AT_VERSION": "a constant WHERE clause whose values are placeholders",
    "_lone_rows(*key)": "rows of numbered placeholders (?1, ?5, ...), int and SQL constants,"
    " built from a row count",
    "', '.join([mark] * 10)": "placeholders repeated",
    "where": "conditions made of constants and placeholders",
    "clause": "conditions made of constants and placeholders",
    "' AND '.join(where)": "conditions made of constants and placeholders",
    "cast": "'::jsonb' or ''",
    "kind": "'jsonb' or 'TEXT'",
    "name": "a document field, checked against [A-Za-z_][A-Za-z0-9_]{0,62} first",
    "sync": "a PRAGMA value chosen from a fixed mapping",
    "pragma": "a PRAGMA name from a constant list",
    "int(lock_timeout * 1000)": "an int",
    "int(self.lock_timeout * 1000)": "an int",
    "self._table": "Transaction.table(): a validated name, quoted",
    "tx.table(table)": "Transaction.table(): a validated name, quoted",
    "ctx.table('movements')": "ProjectionContext.table(): validate_name, then quoted",
    "function": "one of two advisory lock function names",
    "tx.table(APPLIED) (.format)": "Transaction.table() of a constant table name",
    "tx.table(PARKED) (.format)": "Transaction.table() of a constant table name",
    "tx.table(FOLLOWERS) (.format)": "Transaction.table() of a constant table name",
    "tx.table(SKIPS) (.format)": "Transaction.table() of a constant table name",
    "tx.table(READ_MODELS) (.format)": "Transaction.table() of a constant table name",
    "FOLLOWERS": "a constant table name",
    "condition": "progress._CURRENT (constants and placeholders) or '1 = 1'",
    "_columns(tx)": "progress._COLUMNS, whole or with NULL in place of one column",
    "sql": "Transaction.require_change: its caller's whole statement (histoire's checkpoint"
    " write), wrapped to return or count its rows",
    "_shown(sql)": "an error message's text, never sent to a database: the statement shown",
    "self._failure": "an error message's text, never sent to a database: an earlier error",
}


def interpolations(path: Path) -> list[tuple[int, str]]:
    """(line, expression) of each value put into SQL text by an f-string in `path`, or
    a '+' / '%' / '.format' applied to SQL text (reported as such)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            if SQL_WORDS.search(text):
                found += [
                    (node.lineno, ast.unparse(v.value))
                    for v in node.values
                    if isinstance(v, ast.FormattedValue)
                ]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and SQL_WORDS.search(str(side.value)):
                    found.append((node.lineno, f"{ast.unparse(node)[:60]} (+ or %)"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and not ast.unparse(node.func.value).startswith("sql.")
        ):
            receiver = node.func.value
            if not isinstance(receiver, ast.Constant) or SQL_WORDS.search(str(receiver.value)):
                values = [*node.args, *(k.value for k in node.keywords)]
                found += [(node.lineno, ast.unparse(v) + " (.format)") for v in values]
    return found


def test_every_value_interpolated_into_sql_text_is_reviewed() -> None:
    """No SQL text of histoire interpolates anything but reviewed, non-user values: a new
    interpolation fails here until it is added to REVIEWED with its reason."""
    unreviewed = [
        f"{path.relative_to(SOURCE)}:{line}: {expression}"
        for path in sorted(SOURCE.rglob("*.py"))
        for line, expression in interpolations(path)
        if expression not in REVIEWED
    ]
    assert unreviewed == []


def test_the_review_list_has_no_stale_entry() -> None:
    """Every reviewed expression is still interpolated somewhere (the list stays honest)."""
    used = {e for path in SOURCE.rglob("*.py") for _, e in interpolations(path)}
    assert set(REVIEWED) - used == set()


def test_the_review_sees_an_unsafe_interpolation(tmp_path: Path) -> None:
    """The scan finds f-strings and concatenations that put a variable into SQL."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(conn, stream_id, t):\n"
        "    conn.execute(f\"SELECT * FROM events WHERE stream_id = '{stream_id}'\")\n"
        '    conn.execute("DELETE FROM x WHERE a = \'" + t + "\'")\n',
        encoding="utf-8",
    )
    found = [expression for _, expression in interpolations(sample)]
    assert found[0] == "stream_id"
    assert "(+ or %)" in found[1]


# -- names that become identifiers -------------------------------------------------------

FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def storable(text: str) -> bool:
    """Whether a database can hold `text`: no NUL, no lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


@settings(max_examples=examples(300), deadline=None)
@given(name=names)
def test_a_projection_or_table_name_is_a_plain_identifier_or_refused(name: str) -> None:
    """Projection and read-model table names become parts of SQL identifiers: anything
    but 1 to 40 lowercase letters, digits and single underscores is refused."""
    plain = re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) is not None and "__" not in name
    for make in (lambda: Projection(name), lambda: validate_name("table", name)):
        if plain:
            make()
        else:
            with pytest.raises(InvalidInputError, match="name"):
                make()


@settings(max_examples=examples(60), deadline=None, suppress_health_check=FIXTURE)
@given(
    table=names.filter(lambda n: 0 < len(n) < 60 and storable(n)),
    key=names,
    field=names,
)
def test_quoted_names_and_document_values_never_escape_into_sql(
    store: EventStore, backend: str, table: str, key: str, field: str
) -> None:
    """A document key of any text is stored and read back exactly (or, holding a NUL or a
    lone surrogate, refused with InvalidInputError); a document field of any
    text is a plain identifier or refused; on SQLite (and memory) a table named by any text,
    quoted by Transaction.table, is created and found under exactly that name. On
    PostgreSQL table names are only the validated ones: psycopg would read a '%' in a
    quoted name as a placeholder, and histoire quotes no name it has not validated."""
    assert isinstance(store, TransactionalStore)
    physical = "g_" + table if backend != "postgres" else "g_docs"
    with store.transaction() as tx:
        docs = Documents(tx, tx.table(physical))
        docs.create()
        if not storable(key):
            for call in (docs.get, docs.delete, lambda k: docs.put(k, {})):
                with pytest.raises(InvalidInputError, match="document key"):
                    call(key)
            key = "k"
        docs.put(key, {"who": key})
        assert docs.get(key) == {"who": key}
        assert physical in tx.table_names("g_")
        try:
            found = docs.find(**{field: key})
        except InvalidInputError:
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", field) is None
        else:
            assert found == ([(key, {"who": key})] if field == "who" else [])
        tx.execute(f"DROP TABLE {tx.table(physical)}")


@pytest.mark.parametrize("name", ['a"b', 'x"; DROP TABLE t; --', '"', "a\x00b"])
def test_quote_identifier_doubles_quotes_and_refuses_nul(name: str) -> None:
    """An identifier is wrapped in double quotes with every inner quote doubled; a NUL,
    which neither database can hold in a name, is refused."""
    if "\x00" in name:
        with pytest.raises(ValueError, match="NUL"):
            quote_identifier(name)
        return
    quoted = quote_identifier(name)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert quoted[1:-1].replace('""', "").count('"') == 0
