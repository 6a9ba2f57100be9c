"""The reference HTTP service in a real uvicorn process, as a user would run it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """`uvicorn --factory histoire.examples.web:app_from_env` on a free port; its base URL."""
    port = _free_port()
    env = {**os.environ, "HISTOIRE_WEB_STORE": f"sqlite:///{tmp_path / 'web.db'}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "histoire.examples.web:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/accounts/0", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"uvicorn did not start: {output}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck shutdown
            process.kill()
            process.wait()
    output = process.stdout.read() if process.stdout else ""
    if process.stdout:
        process.stdout.close()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit by the signal)
    assert process.returncode in (0, -15), output
    assert "Traceback" not in output, output


def test_commands_views_and_a_live_event_stream_over_http(service: str) -> None:
    """POST commands, read the view after their checkpoint, and receive a later event live."""
    with httpx.Client(base_url=service, timeout=10) as client:
        opened = client.post("/accounts/1/commands", json={"type": "OpenAccount", "owner": "ada"})
        assert opened.status_code == 201, opened.text
        mark = opened.json()["checkpoint"]
        received: list[dict[str, object]] = []

        def listen() -> None:
            with client.stream("GET", "/events", params={"after": mark}) as events:
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
                        return

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.3)  # the stream is open and waiting before the command comes
        deposit = client.post("/accounts/1/commands", json={"type": "Deposit", "amount_cents": 9})
        assert deposit.status_code == 201
        listener.join(10)
        assert [e["type"] for e in received] == ["bank.Deposited"]
        view = client.get("/views/balances/1", params={"after": deposit.json()["checkpoint"]})
        assert view.json()["balance_cents"] == 9
        bad = client.post("/accounts/1/commands", content=b"{")
        assert bad.status_code == 422
