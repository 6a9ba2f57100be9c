"""Hypothesis strategies of hostile input: names, JSON-ish values, wrong-typed arguments."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

from hypothesis import strategies as st

from .budget import times

# What breaks SQL or string handling when someone concatenates: quotes, comment
# markers, statement ends, placeholders of every driver, NUL, escapes, line breaks,
# Unicode that looks like a quote or changes direction, combining marks.
SQL_PIECES = [
    "'",
    "''",
    '"',
    "`",
    ";",
    "--",
    "/*",
    "*/",
    "%",
    "%s",
    "%(x)s",
    "?",
    "$1",
    "$$",
    ":name",
    "\\",
    "\x00",
    "\n",
    "\r",
    "\t",
    " ",
    "-",
    "_",
    "account",
    "DROP TABLE events",
    "' OR '1'='1",
    "'); DELETE FROM histoire_events; --",
    "\u2019",
    "\u202e",
    "\u2028",
    "e\u0301",
    "\ufeff",
    "\ud800",
    "\U0001f600",
    "\u0130",
]

any_character = st.characters(codec=None, exclude_categories=())

names = st.one_of(
    st.text(any_character, max_size=30),
    st.lists(st.sampled_from(SQL_PIECES), max_size=8).map("".join),
    st.tuples(
        st.sampled_from(["account", "a", "x" * 150]),
        st.lists(st.sampled_from(SQL_PIECES), max_size=6).map("".join),
    ).map("-".join),
    st.integers(min_value=190, max_value=210).map(lambda n: "s-" + "x" * (n - 2)),
    st.just("account-" + "9" * 10_000),
)
"""Text that may or may not be a valid stream id, category or type: any Unicode
(lone surrogates too), SQL metacharacters, empty, around the length limit, huge."""

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(any_character, max_size=10),
)

non_json_leaves = st.one_of(
    st.integers().filter(lambda n: abs(n) >= 2**64),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.binary(max_size=8),
    st.builds(set, st.lists(st.integers(), max_size=2)),
    st.builds(object),
    st.just(decimal.Decimal("1.5")),
    st.just(dt.datetime(2026, 1, 1)),
    st.uuids(),
    st.just(lambda: None),
)

metadata_values = st.recursive(
    st.one_of(json_leaves, non_json_leaves),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.text(any_character, max_size=5), st.integers()), inner, max_size=3
        ),
    ),
    max_leaves=8,
)

metadata = st.one_of(
    st.dictionaries(st.text(any_character, max_size=8), metadata_values, max_size=4),
    metadata_values,
)
"""Mappings (or not) whose values may or may not be JSON."""

wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(object),
    st.uuids(),
    st.text(max_size=4),
)
"""Values of every kind: each argument's test keeps those it must refuse."""


def examples(count: int) -> int:
    """How many examples a property tries: `count` in CI, more in soak mode."""
    return times(count)


def refusal_names(exc: BaseException, argument: str) -> bool:
    """Whether `exc` is a clear refusal of `argument`: a histoire error, or a TypeError or
    ValueError whose message names the argument."""
    from histoire import HistoireError

    if isinstance(exc, HistoireError):
        return True
    return isinstance(exc, TypeError | ValueError) and argument in str(exc)


def shown(value: Any) -> str:
    """A short repr for assertion messages."""
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def stored_count(store: Any) -> int:
    """How many events the store holds: its streams' versions summed. (Not head(): on
    PostgreSQL the log's head moves when other sessions' transactions end.)"""
    return sum(info.version for info in store.list_streams())
