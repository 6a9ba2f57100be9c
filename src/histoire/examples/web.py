"""A reference HTTP service over the bank and cart examples: histoire in an async web app.

Starlette (`pip install 'histoire[web]'`); run it with uvicorn::

    HISTOIRE_WEB_STORE=sqlite:///bank.db uvicorn --factory histoire.examples.web:app_from_env

Routes (`{domain}` is `accounts` or `carts`, `{entity}` an id such as `42`):

- `POST /{domain}/{entity}/commands` with a JSON command, `{"type": "Deposit",
  "amount_cents": 500}`: 201 with the stored events, 200 with the refusal
  event for a business refusal (stored too), 409 on a conflict (the expected
  and actual versions), 422 on a malformed command (nothing stored). An
  `Idempotency-Key` header makes the command id: the same key again returns
  the first result, stored once.
- `GET /{domain}/{entity}`: the state and version (`?at_version=N`, `?as_of=ISO time`).
- `GET /views/balances/{entity}?after=C`: the account's row in the balances
  view, once the view has caught up to checkpoint `C` (a command's answer
  gives it): read-your-own-writes.
- `GET /events?after=C&category=account`: Server-Sent Events, one per stored
  event, live (`limit=N` ends the stream after N). `Last-Event-ID` resumes.

Checkpoints travel as text `commit.position`. Commands are handled by the
AsyncCommandHandler on the async store; the balances view is a projection
that runs in a thread of the service on the blocking store of the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from histoire.app.async_follower import AsyncFollower
from histoire.app.async_handler import AsyncCommandHandler
from histoire.app.projections import ProjectionRunner, read_model
from histoire.app.projections.async_status import wait_for_projection_async
from histoire.app.retries import RetryPolicy
from histoire.core.decider import Decider
from histoire.core.errors import (
    DuplicateEventError,
    InvalidInputError,
    RetriesExhaustedError,
)
from histoire.core.messages import Command, Event
from histoire.core.recorded import START, Checkpoint, RecordedEvent
from histoire.examples import bank, bank_views, cart
from histoire.store.async_open import open_async_store
from histoire.store.async_protocol import AsyncEventStore
from histoire.store.protocol import EventStore
from histoire.store.urls import open_store

__all__ = ["DOMAINS", "Domain", "app_from_env", "create_app"]

_IDEMPOTENCY = uuid.UUID("1b0d4c55-31a4-4f5e-9c0e-6a2f1e7d8b90")


@dataclass(frozen=True)
class Domain:
    """One domain the service exposes: its streams' category, decider, commands, refusals."""

    category: str
    decider: Decider[Any, Any, Any]
    commands: tuple[type[Command], ...]
    refusals: tuple[type[Event], ...]
    """Events that are business refusals: answered 200, not 201."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword options of the handler (upcasters, codec)."""

    def command(self, body: bytes) -> Command:
        """The command a JSON body names by `type`; InvalidInputError if it is not one."""
        try:
            fields = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInputError(f"the body is not JSON: {exc}") from None
        if not isinstance(fields, dict) or not isinstance(fields.get("type"), str):
            raise InvalidInputError('a command is a JSON object with a "type"')
        name = fields.pop("type")
        kinds = {kind.__name__: kind for kind in self.commands}
        if name not in kinds:
            raise InvalidInputError(f"unknown command {name!r} (known: {', '.join(sorted(kinds))})")
        try:
            return msgspec.convert(fields, kinds[name])
        except msgspec.ValidationError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None


DOMAINS: dict[str, Domain] = {
    "accounts": Domain(
        "account",
        bank.make_decider(),
        (bank.OpenAccount, bank.Deposit, bank.Withdraw, bank.CloseAccount),
        (bank.WithdrawalRefused, bank.AccountClosureRefused),
        {"upcasters": bank.make_upcasters()},
    ),
    "carts": Domain(
        "cart",
        cart.make_decider(),
        (cart.AddItem, cart.RemoveItem, cart.CheckOut),
        (cart.ItemAdditionRefused, cart.ItemRemovalRefused, cart.CheckoutRefused),
        {"codec": cart.make_codec()},
    ),
}


def checkpoint_text(checkpoint: Checkpoint) -> str:
    """A checkpoint as the service writes it: `commit.position`."""
    return f"{checkpoint.commit}.{checkpoint.position}"


def parse_checkpoint(text: str | None) -> Checkpoint:
    """A checkpoint written `commit.position` (START if none); InvalidInputError otherwise."""
    if not text:
        return START
    commit, _, position = text.partition(".")
    if not (commit.isdigit() and position.isdigit()):
        raise InvalidInputError(f"a checkpoint is written commit.position, not {text!r}")
    return Checkpoint(int(commit), int(position))


def _event_json(record: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": str(record.event_id),
        "stream_id": record.stream_id,
        "version": record.version,
        "type": record.type,
        "data": json.loads(record.data),
        "checkpoint": checkpoint_text(record.checkpoint),
        "recorded_at": record.recorded_at.isoformat(),
    }


def _error(status: int, error: BaseException, **details: Any) -> JSONResponse:
    return JSONResponse({"error": type(error).__name__, "detail": str(error), **details}, status)


class Service:
    """The service's state: the stores, a handler per domain, the projection thread."""

    def __init__(
        self, store: AsyncEventStore, blocking: EventStore, retry: RetryPolicy | None
    ) -> None:
        self.store = store
        self.blocking = blocking
        self.handlers = {
            name: AsyncCommandHandler(store, domain.decider, retry=retry, **domain.options)
            for name, domain in DOMAINS.items()
        }
        self._stop = threading.Event()
        self._runner = threading.Thread(
            target=ProjectionRunner(blocking, bank_views.balances).run,
            kwargs={"live": True, "stop": self._stop},
            name="histoire-web-balances",
            daemon=True,
        )

    def start(self) -> None:
        self._runner.start()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._runner.join, 10)

    def domain(self, request: Request) -> tuple[Domain, AsyncCommandHandler[Any, Any, Any], str]:
        name = request.path_params["domain"]
        if name not in DOMAINS:
            raise LookupError(name)
        return (
            DOMAINS[name],
            self.handlers[name],
            f"{DOMAINS[name].category}-{request.path_params['entity']}",
        )


async def handle_command(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        domain, handler, stream_id = service.domain(request)
    except LookupError:
        return JSONResponse({"error": "NotFound"}, 404)
    key = request.headers.get("idempotency-key")
    command_id = uuid.uuid5(_IDEMPOTENCY, key) if key else None
    try:
        command = domain.command(await request.body())
        result = await handler.handle(
            stream_id,
            command,
            command_id=command_id,
            metadata={"via": "http", "client": request.client.host if request.client else ""},
        )
    except RetriesExhaustedError as exc:
        conflict = exc.last
        return _error(
            409, exc, stream_id=stream_id, expected=str(conflict.expected), actual=conflict.actual
        )
    except DuplicateEventError as exc:
        return _error(409, exc, stream_id=stream_id)
    except InvalidInputError as exc:  # malformed, or refused by the decider's checks
        return _error(422, exc)
    refused = any(isinstance(event, domain.refusals) for event in result.decided)
    body = {
        "stream_id": stream_id,
        "command_id": str(result.command_id),
        "version": result.version,
        "events": [_event_json(record) for record in result.events],
        "state": msgspec.to_builtins(result.state),
        "replayed": result.replayed,
        "refused": refused,
    }
    if result.events:
        body["checkpoint"] = checkpoint_text(result.events[-1].checkpoint)
    return JSONResponse(body, 200 if refused or result.replayed or not result.events else 201)


def _query_int(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise InvalidInputError(f"{name} must be a whole number, not {query[name]!r}") from None


def _query_time(query: Mapping[str, str], name: str) -> dt.datetime | None:
    if name not in query:
        return None
    try:
        return dt.datetime.fromisoformat(query[name])
    except ValueError:
        raise InvalidInputError(
            f"{name} must be an ISO 8601 time such as 2026-11-30T12:00:00+00:00,"
            f" not {query[name]!r}"
        ) from None


async def get_state(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        _, handler, stream_id = service.domain(request)
    except LookupError:
        return JSONResponse({"error": "NotFound"}, 404)
    query = request.query_params
    try:
        at_version = _query_int(query, "at_version")
        as_of = _query_time(query, "as_of")
        loaded = await handler.load(stream_id, at_version=at_version, as_of=as_of)
    except InvalidInputError as exc:
        return _error(422, exc)
    if loaded.version == 0:
        return JSONResponse({"error": "NotFound", "stream_id": stream_id}, 404)
    return JSONResponse(
        {
            "stream_id": stream_id,
            "version": loaded.version,
            "state": msgspec.to_builtins(loaded.state),
        }
    )


async def get_balance(request: Request) -> Response:
    service: Service = request.app.state.service
    stream_id = f"account-{request.path_params['entity']}"
    try:
        after = parse_checkpoint(request.query_params.get("after"))
    except InvalidInputError as exc:
        return _error(422, exc)
    if after != START and not await wait_for_projection_async(
        service.blocking, bank_views.balances.name, after, timeout=5.0
    ):
        return JSONResponse({"error": "ViewBehind", "after": checkpoint_text(after)}, 503)

    def read() -> dict[str, Any] | None:
        with read_model(service.blocking, bank_views.balances) as view:
            found: dict[str, Any] | None = view.documents("accounts").get(stream_id)
            return found

    account = await asyncio.to_thread(read)
    if account is None:
        return JSONResponse({"error": "NotFound", "stream_id": stream_id}, 404)
    return JSONResponse({"stream_id": stream_id, **account})


async def stream_events(request: Request) -> Response:
    service: Service = request.app.state.service
    query = request.query_params
    try:
        after = parse_checkpoint(query.get("after") or request.headers.get("last-event-id"))
        limit = _query_int(query, "limit")
    except InvalidInputError as exc:
        return _error(422, exc)
    categories = query.getlist("category") or None
    follower = AsyncFollower(service.store, categories=categories)

    async def events() -> AsyncIterator[str]:
        sent = 0
        async for record in follower.events(after):
            mark, data = checkpoint_text(record.checkpoint), json.dumps(_event_json(record))
            yield f"id: {mark}\nevent: {record.type}\ndata: {data}\n\n"
            sent += 1
            if limit is not None and sent >= limit:
                return

    return StreamingResponse(events(), media_type="text/event-stream")


def create_app(url: str, *, retry: RetryPolicy | None = None, **options: Any) -> Starlette:
    """The service over the store at `url` (memory://, sqlite:///..., postgresql://...).

    `retry` is the handlers' RetryPolicy; `options` go to both stores (say, `schema`).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_async_store(url, **options)
        # The projection and its view use the blocking store of the same database.
        blocking: EventStore | None = getattr(store, "blocking", None)
        own = blocking is None
        if blocking is None:
            blocking = await asyncio.to_thread(open_store, url, **options)
        service = Service(store, blocking, retry)
        service.start()
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()
            await store.aclose()
            if own:
                blocking.close()

    return Starlette(
        routes=[
            Route("/events", stream_events),
            Route("/views/balances/{entity}", get_balance),
            Route("/{domain}/{entity}/commands", handle_command, methods=["POST"]),
            Route("/{domain}/{entity}", get_state),
        ],
        lifespan=lifespan,
    )


def app_from_env() -> Starlette:
    """The service over the store named by HISTOIRE_WEB_STORE (default: sqlite:///histoire-web.db)."""
    return create_app(os.environ.get("HISTOIRE_WEB_STORE", "sqlite:///histoire-web.db"))
