"""Broker servers of a test's own, to stop and start without touching the shared ones.

A nats-server, redis-server or RabbitMQ node on a free port, its data in a
folder of the test's: started again on the same port and folder, it has
kept what it had (JetStream files, the append-only file, durable queues).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from ._services import free_port, tcp_reachable

RABBITMQ_START_TIMEOUT = 15.0
"""Seconds a RabbitMQ node may take to answer on its AMQP port (about 6 here)."""


def binary(kind: str) -> str | None:
    """The server program of broker `kind`, or None when this machine lacks it."""
    name = {"nats": "nats-server", "redis": "redis-server", "rabbitmq": "rabbitmq-server"}[kind]
    # RabbitMQ: not /usr/sbin's wrapper first: run by root it su-s to the rabbitmq user,
    # who cannot write in the test's folder
    places: list[str | None] = [f"/usr/lib/rabbitmq/bin/{name}"] if kind == "rabbitmq" else []
    places += [shutil.which(name), f"/usr/sbin/{name}"]
    return next((p for p in places if p and os.access(p, os.X_OK)), None)


class PrivateServer:
    """A broker server of the test's own, on a free port, with its data kept."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.node = f"histoire-test-{uuid.uuid4().hex[:8]}@localhost"
        self.dist_port = free_port()  # Erlang distribution, unused but must be free
        self.start_timeout = RABBITMQ_START_TIMEOUT if kind == "rabbitmq" else 10.0

    @property
    def url(self) -> str:
        if self.kind == "nats":
            return f"nats://127.0.0.1:{self.port}"
        if self.kind == "rabbitmq":
            return f"amqp://guest:guest@127.0.0.1:{self.port}/"
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        program = binary(self.kind) or self.kind
        if self.kind == "nats":
            address = ["-a", "127.0.0.1", "-p", str(self.port)]
            return [program, *address, "-js", "-sd", str(self.folder)]
        if self.kind == "rabbitmq":
            return [program]  # configured by its environment
        return [
            program,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.folder),
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.kind != "rabbitmq":
            return env
        config = self.folder / "rabbitmq.conf"
        config.write_text(f"listeners.tcp.default = {self.port}\n")
        plugins = self.folder / "enabled_plugins"
        plugins.write_text("[].\n")  # no management plugin: nothing else listens
        env.update(
            HOME=str(self.folder),  # its own Erlang cookie
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.folder / "log"),
            RABBITMQ_CONFIG_FILE=str(config),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_ENABLED_PLUGINS="",
            RABBITMQ_PID_FILE=str(self.folder / "pid"),
        )
        return env

    def start(self) -> bool:
        """Start the server; whether it answered on its port in time (if not, it is stopped)."""
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its children (RabbitMQ's Erlang VM) go with it
        )
        deadline = time.monotonic() + self.start_timeout
        while not tcp_reachable("127.0.0.1", self.port, 0.2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Stop it the way an operator would (SIGTERM: RabbitMQ shuts down cleanly)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
