"""The reference HTTP service (examples/web.py) through httpx's ASGI transport, every backend."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from histoire import RetryPolicy
from histoire.examples.web import create_app

from .._services import fresh_postgres_schema, postgres_url

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


def store_url(backend: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    if backend == "memory":
        return "memory://", {}
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'web.db'}", {}
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    return url, {"schema": fresh_postgres_schema(url)}


def serve(backend: str, tmp_path: Path, scenario: Scenario, **options: Any) -> None:
    url, store_options = store_url(backend, tmp_path)
    app = create_app(url, **store_options, **options)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bank") as client:
                await scenario(client)

    asyncio.run(main())


async def post(client: httpx.AsyncClient, path: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post(path, content=json.dumps(body), headers=headers)


def test_a_command_is_stored_and_answered_201(backend: str, tmp_path: Path) -> None:
    """POST a command: 201 with its events and checkpoint; GET the state it made."""

    async def scenario(client: httpx.AsyncClient) -> None:
        opened = await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        deposit = await post(
            client, "/accounts/1/commands", {"type": "Deposit", "amount_cents": 500}
        )
        assert opened.status_code == 201 and deposit.status_code == 201
        answer = deposit.json()
        assert [e["type"] for e in answer["events"]] == ["bank.Deposited"]
        assert answer["events"][0]["data"]["amount_cents"] == 500
        assert answer["version"] == 2 and answer["state"]["balance_cents"] == 500
        state = await client.get("/accounts/1")
        assert state.json() == {"stream_id": "account-1", "version": 2, "state": answer["state"]}
        first = await client.get("/accounts/1", params={"at_version": 1})
        assert first.json()["state"]["balance_cents"] == 0
        cart = await post(client, "/carts/7/commands", {"type": "AddItem", "product_id": "tea"})
        assert cart.status_code == 201 and cart.json()["stream_id"] == "cart-7"
        assert (await client.get("/carts/8")).status_code == 404

    serve(backend, tmp_path, scenario)


def test_a_refusal_is_200_with_the_refusal_event(backend: str, tmp_path: Path) -> None:
    """A business refusal is stored and answered 200, naming the refusal event."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        refused = await post(
            client, "/accounts/1/commands", {"type": "Withdraw", "amount_cents": 9}
        )
        assert refused.status_code == 200
        assert refused.json()["refused"] is True
        assert [e["type"] for e in refused.json()["events"]] == ["bank.WithdrawalRefused"]
        assert (await client.get("/accounts/1")).json()["version"] == 2

    serve(backend, tmp_path, scenario)


def test_malformed_commands_are_422_and_store_nothing(backend: str, tmp_path: Path) -> None:
    """Not JSON, no type, an unknown command, a wrong field, an invalid command: 422."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        for body in (
            "{not json",
            json.dumps([1]),
            json.dumps({"type": "Explode"}),
            json.dumps({"type": "Deposit", "amount_cents": "lots"}),
            json.dumps({"type": "Deposit", "amount_cents": -5}),
            json.dumps({"type": "OpenAccount", "owner": "again"}),
        ):
            answer = await client.post("/accounts/1/commands", content=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["detail"]
        assert (await client.get("/accounts/1")).json()["version"] == 1

    serve(backend, tmp_path, scenario)


def test_malformed_query_parameters_are_422_naming_them(backend: str, tmp_path: Path) -> None:
    """A version, a time or a limit that is not one: 422 saying which parameter and why."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        for path, params, named in (
            ("/accounts/1", {"at_version": "two"}, "at_version"),
            ("/accounts/1", {"as_of": "yesterday"}, "as_of"),
            ("/events", {"limit": "many"}, "limit"),
        ):
            answer = await client.get(path, params=params)
            assert answer.status_code == 422, (params, answer.text)
            assert named in answer.json()["detail"]

    serve(backend, tmp_path, scenario)


def test_a_conflict_is_409_with_the_versions(backend: str, tmp_path: Path) -> None:
    """Without retries, concurrent commands on one stream lose with 409: expected and actual."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        answers = await asyncio.gather(
            *(
                post(client, "/accounts/1/commands", {"type": "Deposit", "amount_cents": 1})
                for _ in range(12)
            )
        )
        codes = [a.status_code for a in answers]
        assert set(codes) <= {201, 409} and 409 in codes, codes
        conflict = next(a.json() for a in answers if a.status_code == 409)
        assert conflict["stream_id"] == "account-1"
        assert int(conflict["expected"]) < conflict["actual"]
        stored = (await client.get("/accounts/1")).json()["version"]
        assert stored == 1 + codes.count(201)

    serve(backend, tmp_path, scenario, retry=RetryPolicy.no_retry())


def test_an_idempotency_key_stores_a_command_once(backend: str, tmp_path: Path) -> None:
    """The same Idempotency-Key again answers the first result (200, replayed), stored once."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        key = str(uuid.uuid4())
        body = {"type": "Deposit", "amount_cents": 40}
        first = await post(client, "/accounts/1/commands", body, **{"Idempotency-Key": key})
        again = await post(client, "/accounts/1/commands", body, **{"Idempotency-Key": key})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["replayed"] and again.json()["events"] == first.json()["events"]
        assert (await client.get("/accounts/1")).json()["state"]["balance_cents"] == 40
        other = await post(client, "/accounts/2/commands", body, **{"Idempotency-Key": key})
        assert other.status_code == 409

    serve(backend, tmp_path, scenario)


def test_the_view_reads_its_own_writes(backend: str, tmp_path: Path) -> None:
    """GET the balance after the checkpoint a command returned: the view includes it."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        for amount in (100, 250):
            answer = await post(
                client, "/accounts/1/commands", {"type": "Deposit", "amount_cents": amount}
            )
            view = await client.get(
                "/views/balances/1", params={"after": answer.json()["checkpoint"]}
            )
            assert view.status_code == 200, view.text
            assert view.json()["balance_cents"] == answer.json()["state"]["balance_cents"]
        assert (await client.get("/views/balances/1", params={"after": "x"})).status_code == 422

    serve(backend, tmp_path, scenario)


def test_new_events_stream_as_server_sent_events(backend: str, tmp_path: Path) -> None:
    """GET /events streams each stored event (id = checkpoint), live, from `after`."""

    async def scenario(client: httpx.AsyncClient) -> None:
        first = await post(client, "/accounts/1/commands", {"type": "OpenAccount", "owner": "ada"})
        mark = first.json()["checkpoint"]

        async def later() -> None:
            await asyncio.sleep(0.1)
            await post(client, "/accounts/1/commands", {"type": "Deposit", "amount_cents": 3})
            await post(client, "/carts/1/commands", {"type": "AddItem", "product_id": "tea"})

        writer = asyncio.create_task(later())
        answer = await client.get(
            "/events", params={"after": mark, "category": "account", "limit": 1}, timeout=10
        )
        await writer
        assert answer.headers["content-type"].startswith("text/event-stream")
        frames = [f for f in answer.text.split("\n\n") if f]
        assert len(frames) == 1
        lines = dict(line.split(": ", 1) for line in frames[0].splitlines())
        assert lines["event"] == "bank.Deposited"
        assert json.loads(lines["data"])["stream_id"] == "account-1"
        everything = await client.get("/events", params={"limit": 3})
        assert everything.text.count("\nevent: ") == 3

    serve(backend, tmp_path, scenario)
