"""histoire: event sourcing for Python.

Every event is stored, forever and unchanged; state, views and reactions are
derived from them.
"""

from histoire.app.application import Application
from histoire.app.async_follower import AsyncFollower
from histoire.app.async_handler import AsyncCommandHandler
from histoire.app.follower import ConsumerGroup
from histoire.app.handler import CommandHandler, event_id_for
from histoire.app.projections import (
    Documents,
    Projection,
    ProjectionContext,
    ProjectionRunner,
    ProjectionStatus,
    projection_status,
    read_model,
    wait_for_projection,
)
from histoire.app.projections.async_status import wait_for_projection_async
from histoire.app.relay import Relay, RelayReport, RelayStatus, relay_status
from histoire.app.results import CommandResult, LoadedState
from histoire.app.retries import RetryPolicy
from histoire.app.verify import Defect, VerifyReport, verify
from histoire.brokers import Broker, open_broker
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.codec.upcasting import Upcasters
from histoire.core.append_result import AppendResult
from histoire.core.decider import Decider, SnapshotPolicy
from histoire.core.errors import (
    BrokerError,
    BrokerUnavailableError,
    CodecError,
    ConcurrencyError,
    CorruptDatabaseError,
    CorruptEventError,
    DuplicateEventError,
    EventDecodeError,
    EventTooLargeError,
    HandlerError,
    HistoireError,
    IntegrityError,
    InvalidAppError,
    InvalidBrokerURLError,
    InvalidCommandError,
    InvalidDecisionError,
    InvalidEnvelopeError,
    InvalidEventError,
    InvalidExpectedVersionError,
    InvalidInputError,
    InvalidMessageError,
    InvalidStoreURLError,
    InvalidStreamIdError,
    MalformedCommandError,
    ReadOnlyStoreError,
    RetriesExhaustedError,
    SchemaError,
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    StoreUnavailableError,
    UnknownEventTypeError,
    UpcastError,
)
from histoire.core.messages import Command, Event
from histoire.core.recorded import START, Checkpoint, NewEvent, RecordedEvent
from histoire.core.streams import category_of, stream_id_for, validate_stream_id
from histoire.core.versions import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion, StreamState
from histoire.store.async_open import open_async_store
from histoire.store.async_protocol import AsyncEventStore
from histoire.store.memory import MemoryEventStore
from histoire.store.memory_async import AsyncMemoryEventStore
from histoire.store.protocol import EventStore, Snapshot, StreamInfo
from histoire.store.urls import open_store

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "STREAM_EXISTS",
    "AppendResult",
    "Application",
    "AsyncCommandHandler",
    "AsyncEventStore",
    "AsyncFollower",
    "AsyncMemoryEventStore",
    "Broker",
    "BrokerError",
    "BrokerUnavailableError",
    "Checkpoint",
    "Codec",
    "CodecError",
    "Command",
    "CommandHandler",
    "CommandResult",
    "ConcurrencyError",
    "ConsumerGroup",
    "CorruptDatabaseError",
    "CorruptEventError",
    "Decider",
    "Defect",
    "Documents",
    "DuplicateEventError",
    "Event",
    "EventDecodeError",
    "EventRegistry",
    "EventStore",
    "EventTooLargeError",
    "ExpectedVersion",
    "HandlerError",
    "HistoireError",
    "IntegrityError",
    "InvalidAppError",
    "InvalidBrokerURLError",
    "InvalidCommandError",
    "InvalidDecisionError",
    "InvalidEnvelopeError",
    "InvalidEventError",
    "InvalidExpectedVersionError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidStoreURLError",
    "InvalidStreamIdError",
    "LoadedState",
    "MalformedCommandError",
    "MemoryEventStore",
    "NewEvent",
    "Projection",
    "ProjectionContext",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReadOnlyStoreError",
    "RecordedEvent",
    "Relay",
    "RelayReport",
    "RelayStatus",
    "RetriesExhaustedError",
    "RetryPolicy",
    "SchemaError",
    "Snapshot",
    "SnapshotPolicy",
    "StoreError",
    "StoreFullError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "StreamInfo",
    "StreamState",
    "UnknownEventTypeError",
    "UpcastError",
    "Upcasters",
    "VerifyReport",
    "__version__",
    "category_of",
    "event_id_for",
    "open_async_store",
    "open_broker",
    "open_store",
    "projection_status",
    "read_model",
    "relay_status",
    "stream_id_for",
    "validate_stream_id",
    "verify",
    "wait_for_projection",
    "wait_for_projection_async",
]
