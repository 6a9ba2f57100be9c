"""`histoire relay` as a user runs it: --to, --once, status, and projections --from-broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from histoire import open_store, read_model
from histoire.app.relay import relay_status
from histoire.brokers import without_secrets

from ..brokers import broker_namespace, remember_subscription
from .conftest import histoire_subprocess
from .test_projections_cli import setup_bank


def test_relay_once_then_status_then_a_view_fed_from_nats(tmp_path: Path) -> None:
    """The relay publishes the log; status shows no lag; a view built from NATS is the same."""
    setup_bank(tmp_path, [100, 200, 300])
    with broker_namespace("nats") as url:
        done = histoire_subprocess("relay", "--to", url, "--once", "--app", "bankapp:app",
                                   cwd=tmp_path)  # fmt: skip
        assert done.code == 0, done.stderr
        assert "6 events published" in done.stderr
        status = histoire_subprocess("relay", "status", "--json", "--app", "bankapp:app",
                                     cwd=tmp_path)  # fmt: skip
        (line,) = status.json_lines()
        assert line["relay"] == "relay:" + without_secrets(url)
        assert (line["published"], line["lag_events"]) == (6, 0)
        table = histoire_subprocess("relay", "status", "--app", "bankapp:app", cwd=tmp_path)
        assert "127.0.0.1:4222" in table.stdout
        built = histoire_subprocess(
            "projections", "run", "balances", "--once", "--from-broker", url,
            "--app", "bankapp:app", "--store", "sqlite:///view.db", cwd=tmp_path,
        )  # fmt: skip
        assert built.code == 0, built.stderr
        assert "balances: 6 events" in built.stderr
        views = open_store(f"sqlite:///{tmp_path / 'view.db'}")
        with read_model(views, "balances") as model:
            assert sum(d["balance_cents"] for _, d in model.documents("accounts")) == 600
        views.close()


def test_relay_needs_a_broker_and_names_a_bad_url(tmp_path: Path) -> None:
    """No --to, or an unknown scheme: one line on stderr, exit status 2."""
    setup_bank(tmp_path, [100])
    missing = histoire_subprocess("relay", "--app", "bankapp:app", cwd=tmp_path)
    assert missing.code == 2 and "--to URL" in missing.stderr
    bad = histoire_subprocess("relay", "--to", "kafka://h:9092", "--app", "bankapp:app",
                              cwd=tmp_path)  # fmt: skip
    assert bad.code == 2 and "unknown scheme 'kafka'" in bad.stderr


def test_a_live_relay_stops_on_sigterm_with_status_0(tmp_path: Path) -> None:
    """SIGTERM: the relay finishes its batch, records it, exits 0; status says how far."""
    setup_bank(tmp_path, [100, 200])
    with broker_namespace("redis") as url:
        remember_subscription(url, "x")
        relay = subprocess.Popen(
            [sys.executable, "-m", "histoire", "relay", "--to", url, "--app", "bankapp:app"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        store = open_store(f"sqlite:///{tmp_path / 'bank.db'}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            s.published == 4 for s in relay_status(store)
        ):
            time.sleep(0.05)
        relay.send_signal(signal.SIGTERM)
        _, err = relay.communicate(timeout=30)
        assert relay.returncode == 0, err
        assert "4 events published" in err
        store.close()
