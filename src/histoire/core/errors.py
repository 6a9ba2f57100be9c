"""The exceptions histoire raises: one base, specific subclasses with context.

Every error carries what a person needs to act on it as attributes, and its
message says it in one line. Driver errors (sqlite3, psycopg) never leak: each
backend converts them where they arise.

::

    HistoireError
    ├── InvalidInputError                 bad input from the caller; nothing written
    │   ├── InvalidStreamIdError          empty, too long, control characters, no category
    │   ├── InvalidEnvelopeError          a NewEvent field the store cannot keep (field, value)
    │   │   └── EventTooLargeError        data + metadata over the store's max_event_size
    │   ├── InvalidExpectedVersionError   not ANY / NO_STREAM / STREAM_EXISTS / int >= 0
    │   ├── InvalidStoreURLError          unknown scheme, malformed URL
    │   ├── InvalidCommandError           a command the decider rejects as malformed
    │   │   └── MalformedCommandError     a Command field of another type (type_name, path, value)
    │   ├── InvalidDecisionError          decide returned no event(s) (decider, value)
    │   ├── InvalidBrokerURLError         unknown broker scheme, malformed URL (url, reason)
    │   ├── InvalidEventError             an event not read back equal (type_name, path, value)
    │   └── InvalidAppError               `module:attribute` names no Application (spec, reason)
    ├── ConcurrencyError                  expected version does not match (stream, expected, actual)
    ├── DuplicateEventError               an event id reused with other content or place
    ├── CodecError
    │   ├── UnknownEventTypeError         a stored type name no registry knows
    │   ├── EventDecodeError              a payload that does not match its class
    │   └── UpcastError                   no upcaster for a stored schema version
    ├── StoreError                        the store could not do what was asked
    │   ├── StoreNotFoundError            a read-only command on a store that does not exist
    │   ├── StoreUnavailableError         server down, lock not obtained in time (retryable)
    │   ├── StoreFullError                the disk or the database's size limit is full (retryable)
    │   ├── SchemaError                   the database schema is missing or of another version
    │   ├── CorruptDatabaseError          the database file is damaged, or not a database
    │   ├── ReadOnlyStoreError            a write asked of a store opened read-only
    │   ├── IntegrityError                the database refused a write (immutability, constraint)
    │   └── CorruptEventError             a stored row holds what histoire never writes (an edit)
    ├── BrokerError                       a message broker could not do what was asked
    │   ├── BrokerUnavailableError        server down, acknowledgements not received in time
    │   └── InvalidMessageError           a message that is not a histoire envelope (this version)
    ├── RetriesExhaustedError             a command kept conflicting after all retries
    └── HandlerError                      a projection's or reaction's handler failed on an event
"""

from __future__ import annotations

import reprlib
from typing import Any

_bounded_repr = reprlib.Repr()
_bounded_repr.maxlevel = 3  # a value nested 3,000 deep must not blow the stack here
_bounded_repr.maxstring = _bounded_repr.maxother = 60


class HistoireError(Exception):
    """Base of every error histoire raises."""


class InvalidInputError(HistoireError, ValueError):
    """Input from the caller is malformed; nothing was written."""


class InvalidStreamIdError(InvalidInputError):
    """A stream id is empty, too long or holds control characters."""

    def __init__(self, stream_id: object, reason: str) -> None:
        self.stream_id = stream_id
        self.reason = reason
        super().__init__(f"invalid stream id {stream_id!r}: {reason}")


class InvalidEnvelopeError(InvalidInputError):
    """A field of a NewEvent cannot be stored as given: wrong kind, out of range, unencodable."""

    def __init__(
        self, stream_id: str, event_type: object, field: str, value: object, reason: str
    ) -> None:
        self.stream_id = stream_id
        self.event_type = event_type
        self.field = field
        self.value = value
        self.reason = reason
        shown = _bounded_repr.repr(value)
        if field == "type":
            what = f"event type {shown}"
        else:
            what = f"{field} {shown} of event {_bounded_repr.repr(event_type)}"
        super().__init__(f"append to {stream_id}: {what} {reason}")


class EventTooLargeError(InvalidEnvelopeError):
    """An event's data and metadata together exceed the store's `max_event_size`."""

    def __init__(self, stream_id: str, event_type: object, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            stream_id,
            event_type,
            "size",
            size,
            f"(data and metadata, in bytes) is over this store's max_event_size of {limit:,}",
        )


class InvalidExpectedVersionError(InvalidInputError):
    """An expected version is not ANY, NO_STREAM, STREAM_EXISTS or an int >= 0."""

    def __init__(self, expected: object) -> None:
        self.expected = expected
        super().__init__(
            f"invalid expected version {expected!r}: "
            "use ANY, NO_STREAM, STREAM_EXISTS or an int >= 0"
        )


class InvalidStoreURLError(InvalidInputError):
    """A store URL has an unknown scheme or cannot be parsed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"invalid store URL {url!r}: {reason}")


class InvalidCommandError(InvalidInputError):
    """A command is malformed; deciders raise it, and nothing is stored.

    A business refusal is not this: it is an event, and it is stored.
    """


class MalformedCommandError(InvalidCommandError):
    """A Command's field holds a value that is not of the field's declared type.

    `path` names the field (`member`, `stop.days`, `legs[0]`) and `value` is
    what it held. Raised before `decide` is called: nothing is stored.
    """

    def __init__(self, type_name: str, path: str, value: object, reason: str) -> None:
        self.type_name = type_name
        self.path = path
        self.value = value
        self.reason = reason
        super().__init__(_field_message("command", type_name, path, value, reason))


class InvalidDecisionError(InvalidInputError):
    """A decider's `decide` returned something other than an event or a list of events."""

    def __init__(self, decider: str, value: object, reason: str = "") -> None:
        self.decider = decider
        self.value = value
        self.reason = reason or f"got {_short_repr(value)} ({type(value).__qualname__})"
        super().__init__(
            f"decider {decider!r}: decide must return an event or a list of events; "
            f"{self.reason}; nothing was stored"
        )


class InvalidEventError(InvalidInputError):
    """A decided event would not read back as an equal event: it is refused, not stored.

    Stored events are immutable: one that does not decode as its class would
    make its stream unreadable forever. `path` names the field (`member`,
    `stop.days`, `legs[0]`) and `value` is what the event held there.
    """

    def __init__(self, type_name: str, path: str, value: object, reason: str) -> None:
        self.type_name = type_name
        self.path = path
        self.value = value
        self.reason = reason
        super().__init__(_field_message("event", type_name, path, value, reason))


def _short_repr(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field_message(kind: str, type_name: str, path: str, value: object, reason: str) -> str:
    where = f" field {path} = {_short_repr(value)}" if path else ""
    return f"invalid {kind} {type_name}:{where}: {reason}; nothing was stored"


class InvalidAppError(InvalidInputError):
    """`module:attribute` (`--app`, HISTOIRE_APP) does not give an Application."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"cannot load the application {spec!r}: {reason}")


class InvalidBrokerURLError(InvalidInputError):
    """A broker URL has an unknown scheme or cannot be parsed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"invalid broker URL {url!r}: {reason}")


class ConcurrencyError(HistoireError):
    """The stream's version is not the expected one; nothing was written."""

    def __init__(self, stream_id: str, expected: object, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"wrong expected version: {expected} (stream: {stream_id}, stream version: {actual})"
        )


class DuplicateEventError(HistoireError):
    """An event id already stored is appended again with other content or place."""

    def __init__(self, stream_id: str, event_id: object, reason: str) -> None:
        self.stream_id = stream_id
        self.event_id = event_id
        self.reason = reason
        super().__init__(f"event {event_id} in stream {stream_id}: {reason}")


class CodecError(HistoireError):
    """An event could not be encoded or decoded."""


class UnknownEventTypeError(CodecError):
    """A stored event has a type name that the registry does not know."""

    def __init__(self, type_name: str, known: list[str] | None = None, hint: str = "") -> None:
        self.type_name = type_name
        self.known = sorted(known or [])
        listed = f" (known: {', '.join(self.known)})" if self.known else " (none registered)"
        super().__init__(f"unknown event type {type_name!r}{listed}{hint}")


class EventDecodeError(CodecError):
    """A payload does not match the class of its event type."""

    def __init__(self, type_name: str, schema_version: int, reason: str, **where: Any) -> None:
        self.type_name = type_name
        self.schema_version = schema_version
        self.reason = reason
        self.where = where
        at = "".join(f", {k}={v}" for k, v in where.items())
        super().__init__(f"cannot decode {type_name} v{schema_version}{at}: {reason}")


class UpcastError(CodecError):
    """A stored schema version cannot be brought to the current one."""

    def __init__(self, type_name: str, from_version: int, to_version: int, reason: str) -> None:
        self.type_name = type_name
        self.from_version = from_version
        self.to_version = to_version
        super().__init__(
            f"cannot upcast {type_name} from v{from_version} to v{to_version}: {reason}"
        )


class StoreError(HistoireError):
    """The store could not do what was asked."""


class StoreNotFoundError(StoreError):
    """A read-only operation was asked of a store that does not exist."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"no event store at {url} (nothing was created)")


class StoreUnavailableError(StoreError):
    """The store cannot be reached or locked now; the operation may be retried."""

    retryable = True


class StoreFullError(StoreError):
    """The disk (or a size limit of the database) is full: nothing of this write was stored.

    Retry once space is freed; the store needs no reopening.
    """

    retryable = True

    def __init__(self, doing: str, detail: str) -> None:
        self.doing = doing
        self.detail = detail
        super().__init__(
            f"{doing}: the disk or the database's size limit is full ({detail}); nothing of "
            "this write was stored: free space (or raise the limit) and retry"
        )


class SchemaError(StoreError):
    """The database schema is missing or of another version."""


class CorruptDatabaseError(StoreError):
    """The database file is damaged, or is not a database at all; see `histoire verify`."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(
            f"{where}: the database file is damaged, or is not an SQLite database ({detail}); "
            "nothing was written"
        )


class ReadOnlyStoreError(StoreError):
    """A write (append, snapshot) was asked of a store opened with `read_only=True`."""

    def __init__(self, url: str, doing: str) -> None:
        self.url = url
        self.doing = doing
        super().__init__(f"{doing}: the store {url} is opened read-only; nothing was written")


class IntegrityError(StoreError):
    """The database refused a write (immutability trigger, constraint)."""


class CorruptEventError(StoreError):
    """A stored event's row holds a value histoire never writes: it was edited behind
    histoire's back, or the file is damaged. Names the row and the field."""

    def __init__(
        self,
        *,
        position: object,
        stream_id: object,
        version: object,
        field: str,
        value: object,
        reason: str,
    ) -> None:
        self.position = position
        self.stream_id = stream_id
        self.version = version
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(
            f"the event at position {position} (stream {stream_id!r}, version {version!r}) "
            f"is corrupt: {reason}"
        )


class BrokerError(HistoireError):
    """A message broker (NATS, Redis, RabbitMQ) could not do what was asked."""


class BrokerUnavailableError(BrokerError):
    """The broker cannot be reached, or did not acknowledge in time; retry later.

    `url` is the broker's URL without secrets. What was being published may or
    may not be stored by the broker: publishing it again is safe (duplicates
    are dropped by event id).
    """

    retryable = True

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"broker {url} is unavailable: {reason}")


class InvalidMessageError(BrokerError):
    """A message read from a broker is not a histoire envelope this version can read.

    `where` says which message (subject, stream entry, queue); `reason` what
    is wrong with it. The follower stops on it rather than skip it silently.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"message {where} is not a histoire envelope: {reason}")


class RetriesExhaustedError(HistoireError):
    """A command kept meeting concurrent writers after every allowed retry."""

    def __init__(self, stream_id: str, attempts: int, last: ConcurrencyError) -> None:
        self.stream_id = stream_id
        self.attempts = attempts
        self.last = last
        super().__init__(f"command on {stream_id} conflicted {attempts} times; last: {last}")


class HandlerError(HistoireError):
    """A follower's handler (projection, reaction) failed on an event; the follower stopped.

    The events before it are handled and checkpointed; this one and the ones after
    it wait until the handler is fixed, or until the event is skipped explicitly.
    """

    def __init__(
        self, follower: str, event_id: object, stream_id: str, version: int, error: str
    ) -> None:
        self.follower = follower
        self.event_id = event_id
        self.stream_id = stream_id
        self.version = version
        self.error = error
        super().__init__(f"{follower} failed on event {event_id} ({stream_id}@{version}): {error}")
