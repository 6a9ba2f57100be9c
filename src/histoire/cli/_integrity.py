"""The checks behind `histoire verify`: is every stored event where, and what, it should be?

- versions run 1..N with no hole in every stream, and the stream listing agrees;
- positions (checkpoints) increase along the global log;
- the database's own defences are in place (the store's `integrity_problems()`,
  when it has one: SQLite checks its immutability triggers);
- every row decodes: payload and metadata are JSON, and events of a type the
  codec knows decode to their class, upcast to the current schema version.
  Types the codec does not know are counted as unknown, not as corrupt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from histoire.cli._stored import metadata_of, payload_of, raw_data
from histoire.codec.codec import Codec
from histoire.core.errors import CodecError
from histoire.core.recorded import Checkpoint, RecordedEvent
from histoire.store.protocol import EventStore


@dataclass(frozen=True, slots=True)
class Defect:
    """One thing wrong in a store, and where."""

    problem: str
    stream_id: str | None = None
    version: int | None = None
    position: int | None = None

    def __str__(self) -> str:
        where = []
        if self.stream_id is not None:
            where.append(f"stream {self.stream_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.position is not None:
            where.append(f"position {self.position}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem


@dataclass(slots=True)
class Report:
    """What `verify_store` found."""

    url: str
    streams: int = 0
    events: int = 0
    first_position: int | None = None
    last_position: int | None = None
    decoded: int = 0
    upcast: int = 0
    database_checked: bool = False
    """Whether the store checked its own defences (triggers) too."""
    unknown_types: Counter[str] = field(default_factory=Counter)
    defects: list[Defect] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.defects


def verify_store(store: EventStore, codec: Codec) -> Report:
    """Check every event of `store`; known types are decoded with `codec`."""
    report = Report(url=store.url)
    own_checks: Callable[[], list[str]] | None = getattr(store, "integrity_problems", None)
    if callable(own_checks):
        report.database_checked = True
        report.defects.extend(Defect(problem) for problem in own_checks())
    counts = _check_log(store, codec, report)
    _check_streams(store, counts, report)
    return report


def _check_log(store: EventStore, codec: Codec, report: Report) -> Counter[str]:
    counts: Counter[str] = Counter()
    previous: Checkpoint | None = None
    for record in store.read_log():
        report.events += 1
        counts[record.stream_id] += 1
        if report.first_position is None:
            report.first_position = record.position
        report.last_position = record.position
        checkpoint = record.checkpoint
        if previous is not None and checkpoint <= previous:
            report.defects.append(
                _at(record, f"log order broken: checkpoint {checkpoint} after {previous}")
            )
        previous = checkpoint
        _check_payload(record, codec, report)
    return counts


def _check_payload(record: RecordedEvent, codec: Codec, report: Report) -> None:
    _, metadata_error = metadata_of(record)
    if metadata_error:
        report.defects.append(_at(record, f"{record.type}: {metadata_error}"))
    _, data_error = payload_of(record)
    if data_error:
        report.defects.append(_at(record, f"{record.type}: {data_error}"))
        return
    if record.type not in codec.registry:
        report.unknown_types[record.type] += 1
        return
    try:
        codec.decode_payload(
            record.type,
            record.schema_version,
            raw_data(record),
            stream_id=record.stream_id,
            version=record.version,
        )
    except CodecError as exc:
        report.defects.append(_at(record, str(exc)))
        return
    report.decoded += 1
    if record.schema_version < codec.registry.get(record.type).schema_version:
        report.upcast += 1


def _check_streams(store: EventStore, counts: Counter[str], report: Report) -> None:
    listed: set[str] = set()
    for info in store.list_streams():
        report.streams += 1
        listed.add(info.stream_id)
        expected = 1
        for record in store.read_stream(info.stream_id):
            if record.version != expected:
                report.defects.append(
                    _at(record, f"version {record.version} where {expected} was expected")
                )
            expected = record.version + 1
        read = expected - 1
        if info.version != read or counts[info.stream_id] != read:
            report.defects.append(
                Defect(
                    f"the stream's version is {info.version}, its events end at version "
                    f"{read}, and the log holds {counts[info.stream_id]} of its events",
                    stream_id=info.stream_id,
                )
            )
    for stream_id in sorted(set(counts) - listed):
        report.defects.append(
            Defect(
                f"{counts[stream_id]} events in the log, but the stream is not listed",
                stream_id=stream_id,
            )
        )


def _at(record: RecordedEvent, problem: str) -> Defect:
    return Defect(
        problem, stream_id=record.stream_id, version=record.version, position=record.position
    )
