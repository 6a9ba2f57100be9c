"""`histoire reactions` as a user runs it: run, parked, retry, skip, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from histoire import open_store
from histoire.examples import bank, deletion

from .conftest import histoire_subprocess

APP = textwrap.dedent(
    """
    import os
    from histoire import Application
    from histoire.examples import deletion
    from histoire.examples.mailers import OutboxMailer
    from histoire.examples.support import make_alerts, make_support

    class FlakyMailer(OutboxMailer):
        def send(self, **mail):
            if os.path.exists("smtp-down"):
                raise ConnectionRefusedError("the SMTP server is down")
            super().send(**mail)

    app = Application(
        name="bank",
        deciders=[deletion.make_decider(), make_alerts()],
        upcasters=deletion.make_upcasters(),
        reactions=[make_support(FlakyMailer("outbox"), max_attempts=1)],
        store_url="sqlite:///bank.db",
    )
    """
)


def refuse_deletion(folder: Path, account: str) -> None:
    store = open_store(f"sqlite:///{folder / 'bank.db'}")
    handler = __import__("histoire").CommandHandler(
        store, deletion.make_decider(), upcasters=deletion.make_upcasters()
    )
    handler.handle(account, bank.OpenAccount(owner=account))
    handler.handle(account, bank.Deposit(amount_cents=500))
    handler.handle(account, deletion.DeleteAccount(reason="moving"))
    store.close()


def run(folder: Path, *args: str) -> object:
    return histoire_subprocess(*args, cwd=folder, env={"HISTOIRE_APP": "bankapp:app"})


def test_parked_retry_and_skip_from_the_command_line(tmp_path: Path) -> None:
    """A mail that cannot go is parked; `retry` sends it once the server is up; `skip` drops it."""
    (tmp_path / "bankapp.py").write_text(APP)
    (tmp_path / "smtp-down").touch()
    refuse_deletion(tmp_path, "account-ada")
    refuse_deletion(tmp_path, "account-bob")
    first = run(tmp_path, "reactions", "run", "--once")
    assert first.code == 0, first.stderr
    assert "support: 0 events handled, 2 failed attempts, 2 parked" in first.stderr
    parked = run(tmp_path, "reactions", "parked", "--json").json_lines()
    assert [(p["stream_id"], p["state"]) for p in parked] == [
        ("account-ada", "parked"),
        ("account-bob", "parked"),
    ]
    assert "the SMTP server is down" in parked[0]["error"]
    (tmp_path / "smtp-down").unlink()
    retried = run(tmp_path, "reactions", "retry", parked[0]["event_id"])
    assert retried.code == 0 and "1 parked event will be tried again" in retried.stdout
    skipped = run(
        tmp_path, "reactions", "skip", parked[1]["event_id"], "--reason", "a test", "--by", "ops"
    )
    assert skipped.code == 0, skipped.stderr
    again = run(tmp_path, "reactions", "run", "--once")
    assert again.code == 0, again.stderr
    assert [p.name.split(".")[0] for p in (tmp_path / "outbox").glob("*.eml")] == [
        parked[0]["event_id"]
    ]
    assert run(tmp_path, "reactions", "parked").stdout.strip() == "nothing is parked"
    assert run(tmp_path, "reactions", "retry", "--all").code == 1


def test_a_live_worker_mails_new_refusals_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`reactions run` follows the log; SIGTERM stops it with status 0."""
    (tmp_path / "bankapp.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if k != "HISTOIRE_STORE"}
    env["HISTOIRE_APP"] = "bankapp:app"
    worker = subprocess.Popen(
        [sys.executable, "-m", "histoire", "reactions", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        refuse_deletion(tmp_path, "account-ada")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list((tmp_path / "outbox").glob("*.eml")):
            time.sleep(0.05)
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "support: 1 events handled" in err
