"""SQLite's log read of some categories: through their index where their events are sparse,
in log order (bounded) where they are dense (`reads.Densities`). Only the speed may differ:
every way must give the same events, in the same order, whatever the layout of the log."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from histoire import NewEvent, RecordedEvent, open_store
from histoire.codec.ids import new_event_id


def event(kind: str) -> NewEvent:
    return NewEvent(event_id=new_event_id(), type=kind, schema_version=1, data=b"{}")


# Runs of (category, count): dense stretches of "thing" with a sparse stretch between,
# dense ones ending inside a page, and a long stretch with no "thing" at all.
LAYOUT = [
    ("thing", 450),
    ("other", 30),
    ("thing", 600),
    ("other", 1500),
    ("thing", 5),
    ("other", 400),
    ("thing", 380),
    ("another", 260),
    ("thing", 700),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("plans") / "log.db"
    store = open_store(f"sqlite:///{path}")
    rng = random.Random(7)
    n = 0
    for category, count in LAYOUT:
        for _ in range(count):
            kind = rng.choice(["x.A", "x.B"])
            store.append(f"{category}-{n % 5}", [event(kind)])
            n += 1
    yield store
    store.close()


def keys(records: list[RecordedEvent]) -> list[tuple[int, str, str]]:
    return [(r.position, r.stream_id, r.type) for r in records]


@pytest.mark.parametrize("batch_size", [1, 99, 100, 150, 333, 1000])
@pytest.mark.parametrize("categories", [["thing"], ["thing", "another"]])
def test_reads_of_some_categories_give_what_filtering_the_whole_log_gives(
    store, batch_size: int, categories: list[str]
) -> None:  # type: ignore[no-untyped-def]
    """read_log, read_log_light and read_log_payloads of some categories, in batches of
    every size around the threshold, twice (the second time with what the first learnt of
    the log), from several starting points, with a type filter too."""
    everything = list(store.read_log())
    for start in (0, 1, 470, 2600):
        expected = [
            r for r in everything if r.position > start and r.stream_id.split("-")[0] in categories
        ]
        after = everything[start - 1].checkpoint if start else None
        kwargs = {"categories": categories, "batch_size": batch_size}
        if after is not None:
            kwargs["after"] = after
        for _ in range(2):
            assert keys(list(store.read_log(**kwargs))) == keys(expected)
            assert keys(list(store.read_log_light(**kwargs))) == keys(expected)
            payloads = list(store.read_log_payloads(**kwargs))
            assert [
                (p[1], p[4]) for p in payloads
            ] == [  # (commit, position, stream, version, type...)
                (r.position, r.type) for r in expected
            ]
            typed = list(store.read_log(types=["x.A"], **kwargs))
            assert keys(typed) == keys([r for r in expected if r.type == "x.A"])
            limited = list(store.read_log(limit=batch_size + 7, **kwargs))
            assert keys(limited) == keys(expected[: batch_size + 7])


def test_a_dense_page_is_read_in_log_order_and_a_sparse_one_through_the_index(
    tmp_path: Path,
) -> None:
    """Where the categories are most of the log, pages after the first are read in log
    order; where they grow sparse, the store goes back to their index."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    for n in range(600):
        store.append(f"thing-{n % 3}", [event("x.A")])
    queries: list[str] = []
    fetch = store._fetch  # type: ignore[attr-defined]

    def spy(query: str, params: object, doing: str) -> list[object]:
        queries.append(query)
        return fetch(query, params, doing)  # type: ignore[no-any-return]

    store._fetch = spy  # type: ignore[attr-defined]
    assert len(list(store.read_log(categories=["thing"], batch_size=100))) == 600
    ordered = ["+category" in q for q in queries]
    assert ordered[0] is False and all(ordered[1:-1]), ordered
    for n in range(2000):
        store.append(f"{'thing' if n % 20 == 0 else 'other'}-1", [event("x.A")])
    queries.clear()
    after = list(store.read_log())[599].checkpoint
    assert len(list(store.read_log(after, categories=["thing"], batch_size=100))) == 100
    assert not any("+category" in q for q in queries[1:]), queries
    store.close()


def test_a_commit_between_a_short_dense_page_and_its_rest_is_not_skipped(
    tmp_path: Path,
) -> None:
    """A dense page read in log order came back short (it met the head before its bound);
    events committed before the rest of the page is read through the index, some below
    the bound and some past it, are all read, once, in order."""
    path = tmp_path / "log.db"
    store = open_store(f"sqlite:///{path}")
    writer = open_store(f"sqlite:///{path}")
    for n in range(150):
        store.append(f"thing-{n % 3}", [event("x.A")])
    fetch = store._fetch  # type: ignore[attr-defined]
    raced: list[int] = []

    def racing(query: str, params: object, doing: str) -> list[object]:
        rows = fetch(query, params, doing)
        if "+category" in query and not raced:
            raced.append(len(rows))  # between the scan and the rest: 300 more events
            for n in range(300):
                writer.append(f"thing-{n % 3}", [event("x.B")])
        return rows  # type: ignore[no-any-return]

    store._fetch = racing  # type: ignore[attr-defined]
    first = list(store.read_log(categories=["thing"], batch_size=100, limit=100))
    assert len(first) == 100
    rest = list(store.read_log(first[-1].checkpoint, categories=["thing"], batch_size=100))
    assert raced and raced[0] < 100, "the second read's first page was short, in log order"
    positions = [r.position for r in first + rest]
    assert positions == list(range(1, 451)), "every event once, in order, none skipped"
    writer.close()
    store.close()
