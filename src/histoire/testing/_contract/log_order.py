"""Store contract tests of the global log's order: each stream's events by version."""

from __future__ import annotations

from histoire.core.recorded import RecordedEvent
from histoire.testing._contract.support import StoreFactory, in_threads, new_events, settled_log


def versions_by_stream(events: list[RecordedEvent]) -> dict[str, list[int]]:
    """Each stream's versions, in the order the log gave them."""
    found: dict[str, list[int]] = {}
    for event in events:
        found.setdefault(event.stream_id, []).append(event.version)
    return found


class LogOrderContract:
    """In the log, filtered or not, each stream's events come in version order."""

    def test_the_log_gives_each_stream_in_version_order_under_concurrent_appends(
        self, store_factory: StoreFactory
    ) -> None:
        """Threads appending with ANY to one busy stream and their own: every stream 1..N."""
        writers, appends = 6, 30

        def write(i: int) -> None:
            store = store_factory()  # a handle (a connection pool) per writer
            for n in range(appends):
                stream = "busy-1" if n % 3 else f"own-{i}"
                store.append(stream, new_events(1 + n % 2))

        errors = in_threads(writers, write)
        assert errors == [], [repr(e) for e in errors]
        store = store_factory()
        stored = {info.stream_id: info.version for info in store.list_streams()}
        for log in (
            settled_log(store),
            list(store.read_log(categories=["busy"])),
            list(store.read_log(categories=["busy", "own"], types=["contract.Happened"])),
        ):
            seen = versions_by_stream(log)
            for stream_id, versions in seen.items():
                assert versions == list(range(1, stored[stream_id] + 1)), stream_id
        assert len(versions_by_stream(settled_log(store))) == writers + 1
