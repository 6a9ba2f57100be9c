"""The command handler on the memory store: decide, append, retry, replay, snapshot."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from histoire import (
    NO_STREAM,
    Codec,
    CommandHandler,
    ConcurrencyError,
    Decider,
    DuplicateEventError,
    InvalidCommandError,
    InvalidInputError,
    MemoryEventStore,
    NewEvent,
    RetriesExhaustedError,
    RetryPolicy,
    Snapshot,
    SnapshotPolicy,
    StoreError,
    event_id_for,
)
from histoire.examples.bank import (
    EVENTS,
    Account,
    BankCommand,
    BankEvent,
    Deposit,
    Deposited,
    OpenAccount,
    Withdraw,
    WithdrawalRefused,
    Withdrawn,
    decide,
    evolve,
    initial_state,
    make_decider,
    make_upcasters,
)

BankHandler = CommandHandler[BankCommand, Account, BankEvent]


def bank_handler(
    store: MemoryEventStore | None = None, snapshot_every: int | None = None, **options: Any
) -> BankHandler:
    return CommandHandler(
        store or MemoryEventStore(),
        make_decider(snapshot_every),
        upcasters=make_upcasters(),
        **options,
    )


def opened(handler: BankHandler, stream_id: str = "account-1", deposit: int = 0) -> None:
    handler.handle(stream_id, OpenAccount(owner="ada"))
    if deposit:
        handler.handle(stream_id, Deposit(amount_cents=deposit))


def types_in(handler: BankHandler, stream_id: str = "account-1") -> list[str]:
    return [e.type for e in handler.store.read_stream(stream_id)]


# -- deciding and storing ------------------------------------------------------------


def test_a_command_stores_its_events_and_returns_the_new_state() -> None:
    """Handling a command appends the decided events and gives the new version and state."""
    handler = bank_handler()
    opened(handler)
    result = handler.handle("account-1", Deposit(amount_cents=500))
    assert result.decided == (Deposited(amount_cents=500, currency="EUR"),)
    assert result.version == 2
    assert result.state == Account(opened=True, owner="ada", currency="EUR", balance_cents=500)
    assert [e.type for e in result.events] == ["bank.Deposited"]
    assert types_in(handler) == ["bank.AccountOpened", "bank.Deposited"]
    assert result.replayed is False


def test_a_refusal_is_an_event_and_is_stored() -> None:
    """A withdrawal above the balance stores WithdrawalRefused and leaves the balance alone."""
    handler = bank_handler()
    opened(handler, deposit=100)
    result = handler.handle("account-1", Withdraw(amount_cents=5000))
    assert result.decided == (
        WithdrawalRefused(amount_cents=5000, balance_cents=100, reason="insufficient funds"),
    )
    assert types_in(handler)[-1] == "bank.WithdrawalRefused"
    assert handler.load("account-1").state.balance_cents == 100


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        (False, Deposit(amount_cents=5)),
        (True, Deposit(amount_cents=-5)),
        (True, Withdraw(amount_cents=0)),
        (True, OpenAccount(owner="eve")),
    ],
    ids=["no-account", "negative-deposit", "zero-withdrawal", "open-twice"],
)
def test_an_invalid_command_stores_nothing(setup: bool, command: BankCommand) -> None:
    """A malformed command raises InvalidCommandError and the store is unchanged."""
    handler = bank_handler()
    if setup:
        opened(handler)
    head = handler.store.head()
    with pytest.raises(InvalidCommandError):
        handler.handle("account-1", command)
    assert handler.store.head() == head
    assert handler.store.stream_version("account-1") == (1 if setup else 0)


def test_a_decision_of_no_events_stores_nothing() -> None:
    """A decider that decides nothing leaves the stream as it was."""
    decider = Decider(
        name="quiet",
        initial_state=initial_state,
        decide=lambda command, state: [],
        evolve=evolve,
        events=EVENTS,
    )
    handler = CommandHandler(MemoryEventStore(), decider)
    result = handler.handle("account-1", Deposit(amount_cents=1))
    assert (result.events, result.version) == ((), 0)
    assert handler.store.stream_version("account-1") == 0


# -- idempotent commands -------------------------------------------------------------


def test_a_command_handled_again_with_its_id_returns_the_first_result() -> None:
    """The same command id handled twice stores once; the second call says replayed."""
    handler = bank_handler()
    opened(handler)
    command_id = uuid.uuid4()
    first = handler.handle("account-1", Deposit(amount_cents=700), command_id=command_id)
    handler.handle("account-1", Deposit(amount_cents=1))
    head = handler.store.head()
    again = handler.handle("account-1", Deposit(amount_cents=700), command_id=command_id)
    assert again.replayed is True
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert again.events[0].event_id == event_id_for(command_id, 0)
    assert (again.version, again.state, again.decided) == (
        first.version,
        first.state,
        first.decided,
    )
    assert handler.store.head() == head
    assert handler.load("account-1").state.balance_cents == 701


def test_a_command_id_used_on_another_stream_is_refused() -> None:
    """Reusing a command id for another stream raises DuplicateEventError and stores nothing."""
    handler = bank_handler()
    opened(handler, "account-1")
    opened(handler, "account-2")
    command_id = uuid.uuid4()
    handler.handle("account-1", Deposit(amount_cents=700), command_id=command_id)
    head = handler.store.head()
    with pytest.raises(DuplicateEventError):
        handler.handle("account-2", Deposit(amount_cents=700), command_id=command_id)
    assert handler.store.head() == head
    assert handler.load("account-2").state.balance_cents == 0


def test_commands_without_an_id_are_each_stored() -> None:
    """Two identical commands without a command id are two deposits."""
    handler = bank_handler()
    opened(handler)
    handler.handle("account-1", Deposit(amount_cents=5))
    handler.handle("account-1", Deposit(amount_cents=5))
    assert handler.load("account-1").state.balance_cents == 10


# -- conflicts and retries -----------------------------------------------------------


class Interloper:
    """A decide function that lets a concurrent writer append before it decides.

    On each of its first `times` calls it appends a deposit of 1 cent to the
    stream through the store, as another process would between the handler's
    read and its append; then it decides like the bank.
    """

    def __init__(self, store: MemoryEventStore, stream_id: str, times: int = 1) -> None:
        self.store = store
        self.stream_id = stream_id
        self.times = times
        self.calls = 0
        self.codec = Codec(EVENTS)

    def __call__(self, command: BankCommand, state: Account) -> list[BankEvent]:
        self.calls += 1
        if self.calls <= self.times:
            sneaky = self.codec.encode(Deposited(amount_cents=1, currency="EUR"))
            self.store.append(self.stream_id, [sneaky])
        return decide(command, state)


def interfered(
    store: MemoryEventStore, times: int, **options: Any
) -> tuple[BankHandler, Interloper]:
    interloper = Interloper(store, "account-1", times)
    decider = Decider(
        name="bank",
        initial_state=initial_state,
        decide=interloper,
        evolve=evolve,
        events=EVENTS,
    )
    return CommandHandler(store, decider, **options), interloper


def test_a_conflict_is_retried_against_the_new_state() -> None:
    """When another writer appends between read and write, the handler reloads and decides again."""
    store = MemoryEventStore()
    opened(bank_handler(store), deposit=100)
    handler, interloper = interfered(store, times=1)
    result = handler.handle("account-1", Withdraw(amount_cents=101))
    assert interloper.calls == 2
    assert result.decided == (Withdrawn(amount_cents=101),)
    assert result.version == 4
    assert result.state.balance_cents == 0
    assert [e.type for e in store.read_stream("account-1")][2:] == [
        "bank.Deposited",
        "bank.Withdrawn",
    ]


def test_retries_are_bounded() -> None:
    """A command that conflicts on every attempt gives up after max_attempts attempts."""
    store = MemoryEventStore()
    opened(bank_handler(store))
    sleeps: list[float] = []
    retry = RetryPolicy(max_attempts=3, sleep=sleeps.append)
    handler, interloper = interfered(store, times=100, retry=retry)
    with pytest.raises(RetriesExhaustedError) as raised:
        handler.handle("account-1", Deposit(amount_cents=50))
    error = raised.value
    assert (error.stream_id, error.attempts) == ("account-1", 3)
    assert isinstance(error.last, ConcurrencyError)
    assert interloper.calls == 3
    assert len(sleeps) == 2, "it sleeps between attempts, not after the last"
    assert [e.type for e in store.read_stream("account-1")].count("bank.Deposited") == 3


def test_no_retries_reports_the_first_conflict() -> None:
    """With RetryPolicy.no_retry() the first conflict raises RetriesExhaustedError."""
    store = MemoryEventStore()
    opened(bank_handler(store))
    handler, interloper = interfered(store, times=1, retry=RetryPolicy.no_retry())
    with pytest.raises(RetriesExhaustedError) as raised:
        handler.handle("account-1", Deposit(amount_cents=50))
    assert raised.value.attempts == 1
    assert raised.value.last.actual == 2
    assert interloper.calls == 1
    assert handler.load("account-1").state.balance_cents == 1


def test_max_retries_still_works_and_says_it_is_deprecated() -> None:
    """max_retries=n warns and means RetryPolicy(max_attempts=n + 1); a negative n is refused."""
    with pytest.warns(DeprecationWarning, match="RetryPolicy"):
        handler = bank_handler(max_retries=2)
    assert handler.retry.max_attempts == 3
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidInputError, match="max_retries"):
        bank_handler(max_retries=-1)
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidInputError, match="not both"):
        bank_handler(max_retries=1, retry=RetryPolicy())


def test_a_new_stream_is_appended_with_no_stream() -> None:
    """The first command of a stream conflicts if the stream appeared meanwhile."""
    store = MemoryEventStore()
    handler, _ = interfered(store, times=1, retry=RetryPolicy.no_retry())
    with pytest.raises(RetriesExhaustedError) as raised:
        handler.handle("account-1", OpenAccount(owner="ada"))
    assert raised.value.last.expected is NO_STREAM


class CountingStore(MemoryEventStore):
    """A memory store that counts the stream reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_stream(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().read_stream(*args, **kwargs)


def test_a_command_for_a_new_stream_reads_nothing() -> None:
    """With new_stream=True the first command of a stream is decided without a read."""
    store = CountingStore()
    handler = bank_handler(store)
    result = handler.handle("account-1", OpenAccount(owner="ada"), new_stream=True)
    assert (store.reads, result.version, result.state.opened) == (0, 1, True)
    assert types_in(handler) == ["bank.AccountOpened"]
    with pytest.raises(InvalidCommandError, match="owner"):
        handler.handle("account-2", OpenAccount(owner=" "), new_stream=True)
    assert handler.store.stream_version("account-2") == 0


def test_new_stream_on_an_existing_stream_decides_against_its_state() -> None:
    """A stream said new that exists is loaded and the command decided again, at once."""
    store = CountingStore()
    opened(bank_handler(store), deposit=100)
    sleeps: list[float] = []
    handler = bank_handler(store, retry=RetryPolicy.no_retry())
    handler.retry = RetryPolicy(max_attempts=1, sleep=sleeps.append)
    result = handler.handle("account-1", Withdraw(amount_cents=60), new_stream=True)
    assert result.decided == (Withdrawn(amount_cents=60),)
    assert (result.version, result.state.balance_cents) == (3, 40)
    assert sleeps == [], "the wrong guess is no conflict to back off from, nor an attempt"


def test_new_stream_with_no_decision_looks_at_the_stream() -> None:
    """A command said new that decides nothing reports the stream's real version."""
    store = MemoryEventStore()
    opened(bank_handler(store))
    decider = Decider(
        name="quiet",
        initial_state=initial_state,
        decide=lambda command, state: [],
        evolve=evolve,
        events=EVENTS,
    )
    handler = CommandHandler(store, decider)
    result = handler.handle("account-1", Deposit(amount_cents=1), new_stream=True)
    assert (result.version, result.state.opened) == (1, True)


# -- causation, correlation, metadata --------------------------------------------------


def test_causation_correlation_and_metadata_are_stored_with_every_event() -> None:
    """The ids and metadata given to handle() are on the stored events."""
    handler = bank_handler()
    cause, correlation = uuid.uuid4(), uuid.uuid4()
    metadata = {"user": "ada", "ip": "192.0.2.1"}
    handler.handle(
        "account-1",
        OpenAccount(owner="ada"),
        causation_id=cause,
        correlation_id=correlation,
        metadata=metadata,
    )
    [event] = handler.store.read_stream("account-1")
    assert (event.causation_id, event.correlation_id) == (cause, correlation)
    assert dict(event.metadata) == metadata


def test_causation_defaults_to_the_command_and_correlation_to_the_cause() -> None:
    """Without ids, the command id is the cause, and the cause starts the correlation."""
    handler = bank_handler()
    command_id = uuid.uuid4()
    handler.handle("account-1", OpenAccount(owner="ada"), command_id=command_id)
    cause = uuid.uuid4()
    handler.handle("account-1", Deposit(amount_cents=5), causation_id=cause)
    first, second = handler.store.read_stream("account-1")
    assert (first.causation_id, first.correlation_id) == (command_id, command_id)
    assert (second.causation_id, second.correlation_id) == (cause, cause)
    assert dict(first.metadata) == {}


# -- loading: latest, at a version, as of an instant ------------------------------------


def test_load_at_a_version_gives_the_state_then() -> None:
    """load(at_version=n) folds only the first n events."""
    handler = bank_handler()
    opened(handler)
    for amount in (100, 200, 300):
        handler.handle("account-1", Deposit(amount_cents=amount))
    balances = [handler.load("account-1", at_version=v).state.balance_cents for v in range(5)]
    assert balances == [0, 0, 100, 300, 600]
    assert handler.load("account-1", at_version=2).version == 2
    assert handler.load("account-1", at_version=0).state == Account()
    assert handler.load("account-1", at_version=4).past_end is False


def test_load_past_the_end_says_which_version_it_reached() -> None:
    """at_version beyond the stream loads its last version and says so with past_end."""
    handler = bank_handler()
    opened(handler, deposit=100)
    loaded = handler.load("account-1", at_version=999)
    assert (loaded.version, loaded.past_end, loaded.state.balance_cents) == (2, True, 100)
    assert handler.load("account-9", at_version=3).past_end is True
    assert handler.load("account-1").past_end is False


@pytest.mark.parametrize("at_version", [-1, True, 1.5, "2"])
def test_a_version_that_is_not_a_count_of_events_is_refused(at_version: Any) -> None:
    """at_version must be None or an int >= 0: -1 used to load version 0 silently."""
    handler = bank_handler()
    opened(handler)
    with pytest.raises(InvalidInputError, match="at_version"):
        handler.load("account-1", at_version=at_version)


def test_load_as_of_an_instant_gives_the_state_then() -> None:
    """load(as_of=t) folds the events recorded up to t."""
    handler = bank_handler()
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.002)
    opened(handler)
    moments = []
    for amount in (100, 200):
        time.sleep(0.002)
        moments.append(dt.datetime.now(dt.UTC))
        time.sleep(0.002)
        handler.handle("account-1", Deposit(amount_cents=amount))
    assert handler.load("account-1", as_of=before).state == Account()
    assert handler.load("account-1", as_of=moments[0]).state.balance_cents == 0
    assert handler.load("account-1", as_of=moments[0]).state.opened
    assert handler.load("account-1", as_of=moments[1]).state.balance_cents == 100
    assert handler.load("account-1", as_of=dt.datetime.now(dt.UTC)).state.balance_cents == 300


@pytest.mark.parametrize("as_of", [dt.datetime.now(), "2024-01-01T00:00:00Z", 0])
def test_as_of_must_be_an_aware_datetime(as_of: Any) -> None:
    """A naive (or non-datetime) as_of is refused with an InvalidInputError, not guessed."""
    with pytest.raises(InvalidInputError, match="timezone"):
        bank_handler().load("account-1", as_of=as_of)


def test_as_of_and_at_version_together_are_refused() -> None:
    """Both at once would silently ignore one of them."""
    with pytest.raises(InvalidInputError, match="not both"):
        bank_handler().load("account-1", at_version=1, as_of=dt.datetime.now(dt.UTC))


def test_old_events_are_upcast_when_loading() -> None:
    """A v1 Deposited stored long ago counts in cents once loaded."""
    handler = bank_handler()
    opened(handler)
    v1 = NewEvent(
        event_id=uuid.uuid4(), type="bank.Deposited", schema_version=1, data=b'{"amount":2.5}'
    )
    handler.store.append("account-1", [v1])
    assert handler.load("account-1").state.balance_cents == 250


# -- snapshots ----------------------------------------------------------------------------


def test_a_snapshot_is_taken_every_n_events() -> None:
    """With every=3 the store holds a snapshot at version 3, then 6, and loads start from it."""
    store = MemoryEventStore()
    handler = bank_handler(store, snapshot_every=3)
    opened(handler)
    handler.handle("account-1", Deposit(amount_cents=10))
    assert store.load_snapshot("account-1", name="bank", schema_version=1) is None
    handler.handle("account-1", Deposit(amount_cents=20))
    snapshot = store.load_snapshot("account-1", name="bank", schema_version=1)
    assert snapshot is not None and snapshot.version == 3
    for _ in range(3):
        handler.handle("account-1", Deposit(amount_cents=1))
    snapshot = store.load_snapshot("account-1", name="bank", schema_version=1)
    assert snapshot is not None and snapshot.version == 6
    loaded = handler.load("account-1")
    assert (loaded.version, loaded.snapshot_version, loaded.state.balance_cents) == (6, 6, 33)


def test_state_from_a_snapshot_equals_a_full_replay() -> None:
    """Loading with snapshots gives the same state as replaying every event."""
    store = MemoryEventStore()
    with_snapshots = bank_handler(store, snapshot_every=2)
    opened(with_snapshots)
    for amount in range(1, 8):
        with_snapshots.handle("account-1", Deposit(amount_cents=amount))
    with_snapshots.handle("account-1", Withdraw(amount_cents=1000))
    replay = bank_handler(store).load("account-1")
    for at_version in (None, 1, 2, 3, 4, 7, 9):
        from_snapshot = with_snapshots.load("account-1", at_version=at_version)
        full = bank_handler(store).load("account-1", at_version=at_version)
        assert (from_snapshot.state, from_snapshot.version) == (full.state, full.version)
    assert with_snapshots.load("account-1").snapshot_version > 0
    assert replay.snapshot_version == 0


def test_a_snapshot_of_another_state_schema_is_ignored_and_rebuilt() -> None:
    """A snapshot saved under another state schema version is not used; a new one is taken."""
    store = MemoryEventStore()
    handler = bank_handler(store)
    opened(handler, deposit=40)
    store.save_snapshot(
        Snapshot(
            stream_id="account-1",
            name="bank",
            version=2,
            schema_version=1,
            data=b'{"shape":"old"}',
        )
    )
    decider = Decider(
        name="bank",
        initial_state=initial_state,
        decide=decide,
        evolve=evolve,
        events=EVENTS,
        state_type=Account,
        snapshots=SnapshotPolicy(every=2, state_schema_version=2),
    )
    v2 = CommandHandler(store, decider, upcasters=make_upcasters())
    loaded = v2.load("account-1")
    assert (loaded.state.balance_cents, loaded.snapshot_version) == (40, 0)
    v2.handle("account-1", Deposit(amount_cents=2))
    rebuilt = store.load_snapshot("account-1", name="bank", schema_version=2)
    assert rebuilt is not None and rebuilt.version == 3
    assert v2.load("account-1").snapshot_version == 3
    assert v2.load("account-1").state.balance_cents == 42


def test_a_failed_snapshot_does_not_fail_the_command() -> None:
    """A snapshot is a cache: if saving it fails, the command still succeeds."""

    class NoSnapshots(MemoryEventStore):
        def save_snapshot(self, snapshot: Snapshot) -> None:
            raise StoreError("disk full")

    store = NoSnapshots()
    handler = bank_handler(store, snapshot_every=1)
    opened(handler, deposit=5)
    assert handler.load("account-1").state.balance_cents == 5
    assert store.stream_version("account-1") == 2


def test_deciders_on_one_stream_never_read_each_others_snapshots() -> None:
    """A snapshot belongs to the decider that took it: another decider folding the stream
    ignores it and replays."""
    store = MemoryEventStore()
    handler = bank_handler(store, snapshot_every=2)
    opened(handler, deposit=40)
    assert handler.load("account-1").snapshot_version == 2
    other = Decider(
        name="audit",
        initial_state=lambda: 0,
        decide=lambda command, state: [],
        evolve=lambda count, event: count + 1,
        events=EVENTS,
        state_type=int,
        snapshots=SnapshotPolicy(every=2),
    )
    loaded = CommandHandler(store, other, upcasters=make_upcasters()).load("account-1")
    assert (loaded.state, loaded.snapshot_version) == (2, 0)
