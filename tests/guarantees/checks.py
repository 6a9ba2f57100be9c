"""What the guarantee suites check after the storm: the store whole, commands whole, views exact."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from histoire import Application, EventStore, ProjectionRunner, read_model
from histoire.app.handler import event_id_for
from histoire.app.verify import verify


def assert_store_whole(store: EventStore, app: Application) -> int:
    """Each event once in the log, each stream in version order, versions 1..N, `verify` clean.

    Returns the number of events in the log.
    """
    log = list(store.read_log())
    ids = Counter(e.event_id for e in log)
    assert [i for i, n in ids.items() if n > 1] == [], "events in the log more than once"
    assert len({e.position for e in log}) == len(log), "two events at one position"
    seen: dict[str, int] = {}
    for event in log:  # PostgreSQL's log is in commit order, positions need not increase
        assert event.version == seen.get(event.stream_id, 0) + 1, (
            f"{event.stream_id}: version {event.version} after {seen.get(event.stream_id, 0)}"
        )
        seen[event.stream_id] = event.version
    per_stream = Counter(e.stream_id for e in log)
    for info in store.list_streams():
        versions = [e.version for e in store.read_stream(info.stream_id)]
        assert versions == list(range(1, info.version + 1)), f"{info.stream_id}: {versions}"
        assert per_stream[info.stream_id] == info.version, info.stream_id
    assert sum(per_stream.values()) == len(log)
    report = verify(store, app.codec())
    assert report.ok, [str(d) for d in report.defects]
    return len(log)


@dataclass
class CommandLog:
    """The commands writer processes sent, and those whose handle() returned."""

    sent: dict[uuid.UUID, tuple[str, int]] = field(default_factory=dict)
    acknowledged: dict[uuid.UUID, tuple[str, int, int]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> CommandLog:
        log = cls()
        for line in path.read_text().splitlines():
            word, command_id, stream, *numbers = line.split()
            if word == "sent":
                log.sent[uuid.UUID(command_id)] = (stream, int(numbers[0]))
            else:
                first, last = int(numbers[0]), int(numbers[1])
                log.acknowledged[uuid.UUID(command_id)] = (stream, first, last)
        return log


def assert_commands_whole(store: EventStore, log: CommandLog) -> int:
    """Every acknowledged command at its versions; every sent one stored whole or not at all.

    Returns how many sent commands were found stored (acknowledged or not).
    """
    stored = 0
    for command_id, (stream, count) in log.sent.items():
        found = [store.get_event(event_id_for(command_id, i)) for i in range(count)]
        present = [e for e in found if e is not None]
        assert len(present) in (0, count), (
            f"command {command_id} on {stream} half applied: {len(present)} of {count} events"
        )
        if command_id in log.acknowledged:
            ack_stream, first, last = log.acknowledged[command_id]
            assert present, f"acknowledged command {command_id} on {stream} is lost"
            assert [(e.stream_id, e.version) for e in present] == [
                (ack_stream, v) for v in range(first, last + 1)
            ], f"acknowledged command {command_id} is not at its acknowledged versions"
        stored += bool(present)
    return stored


def balances_view(store: EventStore) -> dict[str, int]:
    """The `balances` read model as it is now: account -> balance."""
    with read_model(store, "balances") as model:
        return {key: doc["balance_cents"] for key, doc in model.documents("accounts")}


def balances_truth(store: EventStore, app: Application) -> dict[str, int]:
    """Each account's balance folded from its stream."""
    handler = app.handler("bank", store)
    return {
        info.stream_id: handler.load(info.stream_id).state.balance_cents
        for info in store.list_streams(category="account")
    }


def assert_view_equals_rebuild(store: EventStore, app: Application, **options: Any) -> None:
    """`balances` caught up equals the streams, and equals a clean rebuild from scratch."""
    runner = ProjectionRunner(store, app.projection("balances"), codec=app.codec(), **options)
    runner.run()
    live = balances_view(store)
    assert live == balances_truth(store, app)
    runner.run(rebuild=True)
    assert balances_view(store) == live
