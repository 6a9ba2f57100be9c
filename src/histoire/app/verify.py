"""Verifying a store: is every stored event where, and what, it should be?

`verify(store, codec)` checks, and reports rather than raises:

- the database itself: its own integrity check (SQLite `PRAGMA quick_check`,
  or `integrity_check` with `full=True`; amcheck on PostgreSQL when installed),
  the immutability triggers, and each event's category against its stream id;
- every row: each field holds what histoire writes (a row edited behind its
  back is named by position and field), the payload and metadata are JSON, and
  events of a type the codec knows decode to their class, upcast to the current
  schema version. Types the codec does not know are counted, not condemned;
- order: positions increase along the log, versions run 1..N without a hole
  in every stream, and the stream listing agrees with the events.

A defect found never stops the check: the report lists them all.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from histoire.codec.codec import Codec
from histoire.core.errors import CodecError, CorruptEventError, InvalidStreamIdError, StoreError
from histoire.core.recorded import Checkpoint, RecordedEvent
from histoire.core.stored_fields import payload_json
from histoire.core.streams import validate_stream_id
from histoire.store.protocol import EventStore
from histoire.store.self_checks import SelfChecking

_DECODED_FIELDS = ("type", "schema_version", "data")


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
class VerifyReport:
    """What `verify` found."""

    url: str
    types_known: bool
    """Whether a codec was given: without one, every type is unknown, checked as JSON only."""
    streams: int = 0
    events: int = 0
    first_position: int | None = None
    last_position: int | None = None
    decoded: int = 0
    upcast: int = 0
    checks: list[str] = field(default_factory=list)
    """The database's own checks that ran (`PRAGMA quick_check`, immutability triggers...)."""
    skipped: list[str] = field(default_factory=list)
    """Checks that could not run, and why."""
    unknown_types: Counter[str] = field(default_factory=Counter)
    defects: list[Defect] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no defect was found."""
        return not self.defects


def verify(
    store: EventStore,
    codec: Codec | None = None,
    *,
    full: bool = False,
    now: dt.datetime | None = None,
) -> VerifyReport:
    """Check every event of `store`, and the database under it; never raises on a defect.

    `codec` (an Application's `codec()`) decodes the events of the types it
    knows; without one, payloads are checked to be JSON only. `full` runs the
    database's slower, complete integrity check. Events recorded more than a
    day after `now` (default: the current time) are reported.
    """
    report = VerifyReport(url=store.url, types_known=codec is not None)
    if isinstance(store, SelfChecking):
        _check_database(store, full, report)
    counts = _check_log(store, codec, now or dt.datetime.now(dt.UTC), report)
    _check_streams(store, counts, report)
    return report


def _check_database(store: SelfChecking, full: bool, report: VerifyReport) -> None:
    try:
        storage = store.storage_check(full=full)
    except StoreError as exc:
        report.defects.append(Defect(f"the database's own check failed: {exc}"))
    else:
        if storage.skipped:
            report.skipped.append(f"{storage.name}: {storage.skipped}")
        else:
            report.checks.append(storage.name)
        report.defects.extend(Defect(f"{storage.name}: {p}") for p in storage.problems)
    try:
        report.defects.extend(Defect(problem) for problem in store.integrity_problems())
        report.checks.append("immutability triggers")
        report.defects.extend(_at_error(e) for e in store.category_mismatches())
        report.checks.append("categories")
    except StoreError as exc:
        report.defects.append(Defect(f"checking the database failed: {exc}"))


def _check_log(
    store: EventStore, codec: Codec | None, now: dt.datetime, report: VerifyReport
) -> Counter[str]:
    counts: Counter[str] = Counter()
    previous: Checkpoint | None = None
    try:
        for record in store.read_log():
            report.events += 1
            if _is_stream_id(record.stream_id):  # a bad one is reported with its row
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
            _check_record(record, codec, now, report)
    except StoreError as exc:  # a damaged page: say where reading stopped
        after = f" after position {report.last_position}" if report.last_position else ""
        report.defects.append(Defect(f"reading the log stopped{after}: {exc}"))
    return counts


def _check_record(
    record: RecordedEvent, codec: Codec | None, now: dt.datetime, report: VerifyReport
) -> None:
    problems = record.problems(now=now)
    report.defects.extend(_at(record, p.reason) for p in problems)
    if any(p.field in _DECODED_FIELDS for p in problems):
        return
    _, data_error = payload_json(record)
    if data_error:
        report.defects.append(_at(record, f"{record.type}: {data_error}"))
        return
    if codec is None or record.type not in codec.registry:
        report.unknown_types[record.type] += 1
        return
    try:
        codec.decode(record)
    except (CodecError, CorruptEventError) as exc:
        report.defects.append(_at(record, str(exc)))
        return
    report.decoded += 1
    if record.schema_version < codec.registry.get(record.type).schema_version:
        report.upcast += 1


def _check_streams(store: EventStore, counts: Counter[str], report: VerifyReport) -> None:
    listed = _listing(store, report)
    if listed is not None:
        report.streams = len(listed)
        for stream_id in sorted(set(counts) - set(listed)):
            report.defects.append(
                Defect(
                    f"{counts[stream_id]} events in the log, but the stream is not listed",
                    stream_id=stream_id,
                )
            )
    else:
        report.streams = len(counts)
    for stream_id in sorted(set(counts) | set(listed or {})):
        read = _read_versions(store, stream_id, report)
        if read is None:
            continue
        version = listed.get(stream_id) if listed is not None else read
        if version != read or counts[stream_id] != read:
            report.defects.append(
                Defect(
                    f"the stream's version is {version}, its events end at version "
                    f"{read}, and the log holds {counts[stream_id]} of its events",
                    stream_id=stream_id,
                )
            )


def _listing(store: EventStore, report: VerifyReport) -> dict[str, int] | None:
    """Each listed stream's version, or None if the listing cannot be read."""
    listed: dict[str, int] = {}
    try:
        for info in store.list_streams():
            listed[info.stream_id] = info.version
    except CorruptEventError as exc:
        _add_unless_known(report, exc, "the streams cannot be listed")
        return None
    except StoreError as exc:
        report.defects.append(Defect(f"the streams cannot be listed: {exc}"))
        return None
    return listed


def _read_versions(store: EventStore, stream_id: str, report: VerifyReport) -> int | None:
    """The last version read in `stream_id`, reporting holes; None if it cannot be read."""
    expected = 1
    try:
        for record in store.read_stream(stream_id):
            if record.version != expected:
                report.defects.append(
                    _at(record, f"version {record.version} where {expected} was expected")
                )
            expected = record.version + 1
    except CorruptEventError as exc:
        _add_unless_known(report, exc, "the stream cannot be read")
        return None
    except StoreError as exc:
        report.defects.append(Defect(f"the stream cannot be read: {exc}", stream_id=stream_id))
        return None
    return expected - 1


def _add_unless_known(report: VerifyReport, error: CorruptEventError, consequence: str) -> None:
    """VerifyReport what a corrupt row prevents, unless the row's defect is already reported."""
    defect = _at_error(error)
    if defect not in report.defects:
        report.defects.append(_at_error(error, f"{consequence}: {error.reason}"))


def _is_stream_id(value: object) -> bool:
    try:
        validate_stream_id(value)
    except InvalidStreamIdError:
        return False
    return True


def _at(record: RecordedEvent, problem: str) -> Defect:
    return _located(problem, record.stream_id, record.version, record.position)


def _at_error(error: CorruptEventError, problem: str | None = None) -> Defect:
    return _located(problem or error.reason, error.stream_id, error.version, error.position)


def _located(problem: str, stream_id: object, version: object, position: object) -> Defect:
    """A defect at a row whose own fields may be corrupt: only well-formed ones locate it."""
    return Defect(
        problem,
        stream_id=stream_id if isinstance(stream_id, str) and stream_id else None,
        version=version if type(version) is int else None,
        position=position if type(position) is int else None,
    )
