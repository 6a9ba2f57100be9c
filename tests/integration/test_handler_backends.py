"""The command handler on every backend: snapshots taken on demand, folds that read the record."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar

import msgspec
import pytest

from histoire import (
    CodecError,
    CommandHandler,
    Decider,
    Event,
    EventStore,
    InvalidEventError,
    InvalidInputError,
    RecordedEvent,
    SnapshotPolicy,
)
from histoire.examples import bank

from ..domains import Book, Borrow, Borrowed, GiveBack, Route, cargo, evolve_library, library

# -- a snapshot now ----------------------------------------------------------------------


def test_a_snapshot_is_taken_on_demand(store: EventStore) -> None:
    """handler.snapshot() saves the state at the latest version, and loads start from it."""
    handler = CommandHandler(store, bank.make_decider(snapshot_every=1000))
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    for amount in (100, 250):
        handler.handle("account-1", bank.Deposit(amount_cents=amount))

    snapshot = handler.snapshot("account-1")

    assert (snapshot.stream_id, snapshot.name, snapshot.version) == ("account-1", "bank", 3)
    stored = store.load_snapshot("account-1", name="bank", schema_version=1)
    assert stored is not None
    assert (stored.version, bytes(stored.data)) == (3, bytes(snapshot.data))
    handler.handle("account-1", bank.Withdraw(amount_cents=50))
    loaded = handler.load("account-1")
    assert (loaded.snapshot_version, loaded.version, loaded.state.balance_cents) == (3, 4, 300)
    assert loaded.state == CommandHandler(store, bank.make_decider()).load("account-1").state


def test_a_snapshot_needs_a_decider_that_takes_them(store: EventStore) -> None:
    """Without SnapshotPolicy(every=N) loads would never read it: refused, nothing saved."""
    handler = CommandHandler(store, bank.make_decider())
    handler.handle("account-1", bank.OpenAccount(owner="ada"))
    with pytest.raises(InvalidInputError, match="takes no snapshots"):
        handler.snapshot("account-1")
    assert store.load_snapshot("account-1", name="bank", schema_version=1) is None


def test_a_snapshot_of_an_empty_stream_is_refused(store: EventStore) -> None:
    """There is nothing to snapshot in a stream without events."""
    with pytest.raises(InvalidInputError, match="no events"):
        CommandHandler(store, bank.make_decider(snapshot_every=10)).snapshot("account-9")


class Tags(msgspec.Struct, frozen=True):
    tags: tuple[str, ...] = ()


class Tagged(Event):
    type_name: ClassVar[str] = "tags.Tagged"
    tag: str


def test_a_state_that_would_not_read_back_is_not_snapshotted(store: EventStore) -> None:
    """A state holding a list in a tuple field would load differently from its snapshot."""
    decider = Decider(
        name="tags",
        initial_state=Tags,
        decide=lambda command, state: [Tagged(tag=command)],
        evolve=lambda state, event: Tags(tags=[*state.tags, event.tag]),  # a list, oops
        events=[Tagged],
        state_type=Tags,
        snapshots=SnapshotPolicy(every=2),
    )
    handler = CommandHandler(store, decider)
    handler.handle("tags-1", "a")
    handler.handle("tags-1", "b")  # due: refused, logged, the command still succeeds
    assert store.load_snapshot("tags-1", name="tags", schema_version=1) is None
    with pytest.raises(CodecError, match="reads back"):
        handler.snapshot("tags-1")
    assert handler.load("tags-1").snapshot_version == 0


# -- folds that read when an event was recorded ------------------------------------------------


class DatedBook(msgspec.Struct, frozen=True):
    book: Book = Book()
    since: dt.datetime | None = None
    """When the book last changed hands: the recorded time of its last event."""


def evolve_dated(state: DatedBook, event: Event, record: RecordedEvent) -> DatedBook:
    return DatedBook(book=evolve_library(state.book, event), since=record.recorded_at)


def dated_library(**options: Any) -> Decider[Any, DatedBook, Any]:
    return Decider(
        name="dated-library",
        initial_state=DatedBook,
        decide=lambda command, state: library.decide(command, state.book),
        evolve=lambda state, event: DatedBook(book=evolve_library(state.book, event)),
        evolve_recorded=evolve_dated,
        events=library.events,
        state_type=DatedBook,
        **options,
    )


def test_a_fold_can_read_the_recorded_time(store: EventStore) -> None:
    """With evolve_recorded, handle() and load() fold with each event's record."""
    handler = CommandHandler(store, dated_library())
    borrowed = handler.handle("book-1", Borrow(member="ada"))
    returned = handler.handle("book-1", GiveBack())
    assert borrowed.state.since == borrowed.events[0].recorded_at
    assert returned.state.since == returned.events[0].recorded_at
    assert handler.load("book-1").state == returned.state
    assert handler.load("book-1", at_version=1).state == borrowed.state
    as_of = handler.load("book-1", as_of=borrowed.events[0].recorded_at)
    assert as_of.state == borrowed.state


def test_a_fold_with_records_survives_snapshots(store: EventStore) -> None:
    """A snapshot of a state holding recorded times loads back equal."""
    handler = CommandHandler(store, dated_library(snapshots=SnapshotPolicy(every=2)))
    handler.handle("book-1", Borrow(member="ada"))
    result = handler.handle("book-1", GiveBack())
    loaded = handler.load("book-1")
    assert (loaded.snapshot_version, loaded.state) == (2, result.state)


# -- nothing malformed reaches any backend ------------------------------------------------


def test_an_event_of_the_wrong_shape_reaches_no_backend(store: EventStore) -> None:
    """The check runs before the append: the stream stays readable on every backend."""
    handler = CommandHandler(store, cargo)
    handler.handle("voyage-1", Route())
    with pytest.raises(InvalidEventError):
        handler.handle("voyage-1", Route(legs=["V1", "V2"], port="TOKYO"))
    assert store.stream_version("voyage-1") == 1
    assert handler.load("voyage-1").version == 1
    assert [e.type for e in store.read_stream("voyage-1")] == ["cargo.Routed"]
    books = CommandHandler(
        store, dataclasses.replace(library, decide=lambda c, s: Borrowed(member=1))
    )
    with pytest.raises(InvalidEventError, match="member"):
        books.handle("book-1", Borrow(member="ada"))
    assert store.stream_version("book-1") == 0
