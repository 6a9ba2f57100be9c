"""`histoire projections` as a user runs it: --app, run, status, rebuild, skip, consumer groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from histoire import CommandHandler, open_store, read_model
from histoire.examples import bank

from .._services import free_port
from .conftest import histoire_subprocess

APP = textwrap.dedent(
    """
    from histoire import Application, Projection
    from histoire.examples import bank
    from histoire.examples.bank_views import audit_trail, balances

    strict = Projection("strict")

    @strict.on(bank.Deposited)
    def refuse_big(event, ctx):
        if event.amount_cents > 10_000:
            raise ValueError(f"deposit of {event.amount_cents} looks wrong")
        ctx.documents("ok").put(str(ctx.record.event_id), {"cents": event.amount_cents})

    app = Application(
        name="bank",
        deciders=[bank.make_decider()],
        upcasters=bank.make_upcasters(),
        projections=[balances, audit_trail, strict],
        store_url="sqlite:///bank.db",
    )
    """
)


def setup_bank(folder: Path, deposits: list[int]) -> None:
    (folder / "bankapp.py").write_text(APP)
    store = open_store(f"sqlite:///{folder / 'bank.db'}")
    handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
    for n, cents in enumerate(deposits):
        account = f"account-{n % 7}"
        if handler.load(account).version == 0:
            handler.handle(account, bank.OpenAccount(owner=account))
        handler.handle(account, bank.Deposit(amount_cents=cents))
    store.close()


def balances_in(folder: Path) -> dict[str, int]:
    store = open_store(f"sqlite:///{folder / 'bank.db'}")
    try:
        with read_model(store, "balances") as view:
            return {k: d["balance_cents"] for k, d in view.documents("accounts")}
    finally:
        store.close()


def test_run_once_builds_every_view_and_status_shows_no_lag(tmp_path: Path) -> None:
    """`run --once` catches every projection up; `status --json` then shows lag 0."""
    setup_bank(tmp_path, [100, 200, 300])
    done = histoire_subprocess(
        "projections",
        "run",
        "balances",
        "audit_trail",
        "--once",
        "--app",
        "bankapp:app",
        cwd=tmp_path,
    )
    assert done.code == 0, done.stderr
    assert "balances: 6 events" in done.stderr
    assert sum(balances_in(tmp_path).values()) == 600
    status = histoire_subprocess(
        "projections", "status", "--json", cwd=tmp_path, env={"HISTOIRE_STORE": "sqlite:///bank.db"}
    )
    assert status.code == 0, status.stderr
    rows = {r["projection"]: r for r in status.json_lines()}
    assert set(rows) == {"balances", "audit_trail"}
    # The --once run ended: it no longer runs, and nothing is left to do.
    assert rows["balances"]["lag_events"] == 0 and rows["balances"]["state"] == "caught up"


def test_without_app_run_says_what_it_needs(tmp_path: Path) -> None:
    """`projections run` without --app is a usage error that says how to give it."""
    done = histoire_subprocess("projections", "run", cwd=tmp_path)
    assert done.code == 2
    assert "--app module:attribute" in done.stderr


def test_a_failing_projection_shows_in_status_and_skip_lets_it_go_on(tmp_path: Path) -> None:
    """A failing handler stops its view (exit 1), status names the event; skip is recorded."""
    setup_bank(tmp_path, [100, 50_000, 200])
    run = histoire_subprocess(
        "projections", "run", "strict", "--once", "--app", "bankapp:app", cwd=tmp_path
    )
    assert run.code == 1
    assert "deposit of 50000 looks wrong" in run.stderr
    status = histoire_subprocess(
        "projections", "status", "strict", "--json", "--store", "sqlite:///bank.db", cwd=tmp_path
    )
    (row,) = status.json_lines()
    assert row["state"] == "failing"
    assert "ValueError: deposit of 50000 looks wrong" in row["traceback"]
    event_id = row["failed_event_id"]
    skip = histoire_subprocess(
        "projections",
        "skip",
        "strict",
        event_id,
        "--reason",
        "test data",
        "--by",
        "ops",
        "--store",
        "sqlite:///bank.db",
        cwd=tmp_path,
    )
    assert skip.code == 0, skip.stderr
    again = histoire_subprocess(
        "projections", "run", "strict", "--once", "--app", "bankapp:app", cwd=tmp_path
    )
    assert again.code == 0, again.stderr
    (row,) = histoire_subprocess(
        "projections", "status", "strict", "--json", "--store", "sqlite:///bank.db", cwd=tmp_path
    ).json_lines()
    assert row["state"] != "failing" and row["lag_events"] == 0


def test_rebuild_builds_a_new_generation_and_swaps_it_in(tmp_path: Path) -> None:
    """`rebuild` replays the log into generation 2 and reports it serving."""
    setup_bank(tmp_path, [100, 200])
    assert (
        histoire_subprocess(
            "projections", "run", "balances", "--once", "--app", "bankapp:app", cwd=tmp_path
        ).code
        == 0
    )
    before = balances_in(tmp_path)
    done = histoire_subprocess(
        "projections", "rebuild", "balances", "--app", "bankapp:app", cwd=tmp_path
    )
    assert done.code == 0, done.stderr
    assert "generation 2 built" in done.stdout
    assert balances_in(tmp_path) == before


def test_three_members_of_a_group_build_the_view_of_one(tmp_path: Path) -> None:
    """Three live processes, --member i --of 3, split the streams and build the whole view."""
    setup_bank(tmp_path, list(range(1, 60)))
    env = {k: v for k, v in os.environ.items() if k != "HISTOIRE_STORE"}
    members = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "histoire",
                "projections",
                "run",
                "balances",
                "--member",
                str(i),
                "--of",
                "3",
                "--app",
                "bankapp:app",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        store = open_store(f"sqlite:///{tmp_path / 'bank.db'}")
        handler = CommandHandler(store, bank.make_decider(), upcasters=bank.make_upcasters())
        for n in range(30):
            handler.handle(f"account-{n % 7}", bank.Deposit(amount_cents=1000 + n))
        truth = {f"account-{n}": handler.load(f"account-{n}").state.balance_cents for n in range(7)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if balances_in(tmp_path) == truth:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        assert balances_in(tmp_path) == truth
        store.close()
    finally:
        for member in members:
            member.send_signal(signal.SIGTERM)
        outcomes = [m.communicate(timeout=30) for m in members]
    assert [m.returncode for m in members] == [0, 0, 0], outcomes
    handled = sum(int(err.split("balances: ")[1].split(" events")[0]) for _, err in outcomes)
    assert handled == 7 + 59 + 30


def test_a_live_worker_waits_for_a_store_not_reachable_yet_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """Started before its database is up, `projections run` says it waits, and keeps
    waiting (no exit 1, no restart loop) until SIGTERM, which ends it with 0; `--once`
    fails at once instead, naming the server."""
    (tmp_path / "bankapp.py").write_text(APP)
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if k != "HISTOIRE_STORE"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "histoire", "projections", "run", "--app", "bankapp:app",
         "--store", nobody],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(4)
        assert worker.poll() is None, worker.communicate()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "waiting for the store" in err and "127.0.0.1" in err, err
    assert err.count("waiting for the store") >= 2, err  # it tried again
    assert "the store was never reached" in err, err

    once = histoire_subprocess(
        "projections", "run", "--once", "--app", "bankapp:app", "--store", nobody, cwd=tmp_path
    )
    assert once.code == 1
    assert "unavailable" in once.stderr and "waiting" not in once.stderr, once.stderr
