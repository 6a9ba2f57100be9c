"""The portable document read model: the same answers on memory, SQLite and PostgreSQL,
and what no backend could store alike refused before any SQL is sent."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from histoire import EventStore, InvalidInputError
from histoire.app.projections import Projection, ProjectionContext, ProjectionRunner
from histoire.app.projections.reading import read_model
from histoire.examples import bank

from .test_projections import accounts_handler

DOCS: dict[str, dict[str, Any]] = {
    "pair": {"tags": ["a", "b"]},
    "more": {"tags": ["b", "a", "c"]},
    "reversed": {"tags": ["b", "a"]},
    "ab": {"where": {"city": "Lyon", "zip": "69001"}},
    "ba": {"where": {"zip": "69001", "city": "Lyon"}},
    "bigger": {"where": {"city": "Lyon", "zip": "69001", "floor": 2}},
    "one": {"n": 1},
    "one-float": {"n": 1.0},
    "none": {"n": None},
    "text": {"n": "1", "note": "caf\u00e9 \u2028 \\u0000 is six characters"},
}


def filled(store: EventStore, write: Any) -> Projection:
    """A projection whose handler calls `write(documents)` once, run over one event."""
    projection = Projection("docs")

    @projection.on(bank.AccountOpened)
    def opened(event: bank.AccountOpened, ctx: ProjectionContext) -> None:
        write(ctx.documents("things"))

    handler = accounts_handler(store)
    handler.handle("account-1", bank.OpenAccount(owner="Ada"))
    report = ProjectionRunner(store, projection, codec=handler.codec).run()
    if report.failure is not None:
        raise report.failure
    return projection


def test_find_is_json_equality_on_every_backend(store: EventStore) -> None:
    """Arrays match in order and whole, objects whatever their keys' order and whole."""

    def write(docs: Any) -> None:
        for key, doc in DOCS.items():
            docs.put(key, doc)

    projection = filled(store, write)
    with read_model(store, projection) as view:
        docs = view.documents("things")

        def keys(**fields: Any) -> list[str]:
            return [key for key, _ in docs.find(**fields)]

        assert keys(tags=["a", "b"]) == ["pair"]  # not a bigger array, nor another order
        assert keys(tags=["b", "a"]) == ["reversed"]
        assert keys(where={"city": "Lyon", "zip": "69001"}) == ["ab", "ba"]
        assert keys(where={"zip": "69001", "city": "Lyon"}) == ["ab", "ba"]
        assert keys(where={"city": "Lyon"}) == []  # not a bigger object
        assert keys(n=1) == ["one", "one-float"]
        assert keys(n=None) == ["none"]  # JSON null, not a missing field
        assert keys(n="1") == ["text"]
        assert keys(note=DOCS["text"]["note"]) == ["text"]
        assert docs.get("ba") == DOCS["ba"]
        assert docs.get("text") == DOCS["text"]
        assert docs.count() == len(DOCS)


@dataclasses.dataclass
class Reading:
    ratio: float


class Shelf(msgspec.Struct):
    books: list[Reading]


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"ratio": float("nan")}, "NaN or infinity"),
        ({"deep": [{"ratio": float("-inf")}]}, "NaN or infinity"),
        (Shelf(books=[Reading(ratio=float("inf"))]), "NaN or infinity"),
        ({"name": "a\x00b"}, "NUL character"),
        ({"name": "a\ud800b"}, "cannot be stored as JSON"),
        ({1: "one"}, "keys of a JSON object are text"),
        (["a", "list"], "must be a JSON object"),
        ("text", "must be a JSON object"),
        ({"when": object()}, "cannot be stored as JSON"),
    ],
)
def test_what_a_backend_could_not_store_alike_is_refused_before_any_sql(
    store: EventStore, doc: Any, says: str
) -> None:
    """The error names the document; the handler may go on (no aborted transaction on
    PostgreSQL), and the documents written beside it are kept."""
    refused: list[InvalidInputError] = []

    def write(docs: Any) -> None:
        with pytest.raises(InvalidInputError) as caught:
            docs.put("bad", doc)
        refused.append(caught.value)
        docs.put("good", {"ok": True})

    projection = filled(store, write)
    assert "'bad'" in str(refused[0]) and says in str(refused[0]), refused
    with read_model(store, projection) as view:
        docs = view.documents("things")
        assert [key for key, _ in docs] == ["good"]
        with pytest.raises(InvalidInputError, match="NaN"):
            docs.find(ok=float("nan"))
        with pytest.raises(InvalidInputError, match="NUL"):
            docs.find(ok="\x00")


def test_a_nan_free_document_with_nulls_is_stored_as_it_is(store: EventStore) -> None:
    kept = {"a": None, "b": [None, 1.5], "c": {"d": None}}
    projection = filled(store, lambda docs: docs.put("k", kept))
    with read_model(store, projection) as view:
        assert view.documents("things").get("k") == kept
