"""`histoire demo` on a fresh folder, then the read commands on the file it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, histoire_subprocess, one_line_error

DEMO_URL = "sqlite:///histoire-demo.db"


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def demo_run(demo_folder: Path) -> Run:
    """The demo, run once as a subprocess in an empty folder."""
    return histoire_subprocess("demo", cwd=demo_folder)


def read(demo_folder: Path, *args: str) -> Run:
    return histoire_subprocess("--store", DEMO_URL, *args, cwd=demo_folder)


def test_the_demo_succeeds_and_writes_its_file(demo_run: Run, demo_folder: Path) -> None:
    """The demo exits 0, prints nothing on stderr, and leaves histoire-demo.db behind."""
    assert demo_run.code == 0, demo_run.stderr
    assert demo_run.stderr == ""
    assert (demo_folder / "histoire-demo.db").is_file()


@pytest.mark.parametrize(
    "told",
    [
        "refused",  # a decision that says no, stored
        "bank.WithdrawalRefused",
        "cart.CheckoutRefused",
        "bank.AccountDeletionRefused",
        "bank.AccountDeleted",
        "malformed",  # an error stores nothing
        "snapshot at version 5",  # taken, then used to load
        "upcaster",
        "Deposited(amount_cents=1250, currency='EUR')",
        "unchanged",
        "As of",
        "every product ever removed from a cart",
        "Caused by",
        "Correlation",
        "mobile app",
    ],
)
def test_the_demo_tells_every_part_of_the_story(demo_run: Run, told: str) -> None:
    """The demo's output shows refusals, the snapshot, the upcast, time travel, the views."""
    assert told in demo_run.stdout


def test_the_demo_ends_with_the_commands_to_explore_its_file(demo_run: Run) -> None:
    """The last lines are the commands to explore the file the demo wrote."""
    last = [line.strip() for line in demo_run.stdout.strip().splitlines()[-4:]]
    assert last == [
        f"histoire --store {DEMO_URL} streams",
        f"histoire --store {DEMO_URL} events account-ada",
        f"histoire --store {DEMO_URL} log --category cart",
        f"histoire --store {DEMO_URL} verify",
    ]


def test_streams_lists_the_demo_streams_with_their_versions(
    demo_run: Run, demo_folder: Path
) -> None:
    """`streams --json` gives one JSON object per stream, matching `events` for each."""
    streams = read(demo_folder, "streams", "--json").json_lines()
    assert [s["stream_id"] for s in streams] == [
        "account-ada",
        "alerts-support",
        "cart-ada",
        "cart-bob",
        "cart-chloe",
    ]
    assert {s["category"] for s in streams} == {"account", "alerts", "cart"}
    for stream in streams:
        events = read(demo_folder, "events", stream["stream_id"], "--json").json_lines()
        assert [e["version"] for e in events] == list(range(1, stream["version"] + 1))
        assert {e["stream_id"] for e in events} == {stream["stream_id"]}


def test_events_show_versions_positions_ids_metadata_and_data(
    demo_run: Run, demo_folder: Path
) -> None:
    """`events --json` carries every field; the v1 deposit is shown as stored."""
    events = read(demo_folder, "events", "account-ada", "--json").json_lines()
    first = events[0]
    assert set(first) >= {
        "position",
        "stream_id",
        "version",
        "type",
        "schema_version",
        "recorded_at",
        "event_id",
        "causation_id",
        "correlation_id",
        "metadata",
        "data",
    }
    assert first["metadata"]["user"] == "teller-12"
    old = [e for e in events if e["type"] == "bank.Deposited" and e["schema_version"] == 1]
    assert [e["data"] for e in old] == [{"amount": 12.5}]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)


def test_events_backward_with_a_limit_gives_the_newest_first(
    demo_run: Run, demo_folder: Path
) -> None:
    """`--backward --limit 2` gives the last two versions, newest first."""
    events = read(demo_folder, "events", "account-ada", "--backward", "--limit", "2", "--json")
    assert [e["type"] for e in events.json_lines()] == ["bank.AccountDeleted", "bank.Withdrawn"]
    later = read(demo_folder, "events", "account-ada", "--from-version", "11", "--json")
    assert [e["version"] for e in later.json_lines()] == [11, 12]


def test_the_log_holds_every_event_once_in_position_order(demo_run: Run, demo_folder: Path) -> None:
    """`log --json` gives positions 1..N, N being the sum of the streams' versions."""
    log = read(demo_folder, "log", "--json").json_lines()
    streams = read(demo_folder, "streams", "--json").json_lines()
    assert [e["position"] for e in log] == list(range(1, sum(s["version"] for s in streams) + 1))


def test_the_log_filters_by_category_type_position_and_limit(
    demo_run: Run, demo_folder: Path
) -> None:
    """`--category`, `--type`, `--from` and `--limit` narrow the log."""
    carts = read(demo_folder, "log", "--category", "cart", "--json").json_lines()
    assert carts and {e["stream_id"].split("-")[0] for e in carts} == {"cart"}
    removed = read(demo_folder, "log", "--type", "cart.ItemRemoved", "--json").json_lines()
    assert [e["data"]["product_id"] for e in removed] == ["mug", "mug", "tea"]
    after = read(demo_folder, "log", "--from", "20", "--limit", "2", "--json").json_lines()
    assert [e["position"] for e in after] == [21, 22]
    table = read(demo_folder, "log", "--category", "cart", "--type", "cart.ItemRemoved")
    assert table.code == 0
    assert "cart-bob" in table.stdout
    assert "3 events" in table.stdout


def test_the_tables_show_streams_and_events(demo_run: Run, demo_folder: Path) -> None:
    """Without --json, streams and events print tables a person can read."""
    streams = read(demo_folder, "streams")
    assert streams.code == 0
    assert "account-ada" in streams.stdout
    assert "5 streams" in streams.stdout
    events = read(demo_folder, "events", "account-ada")
    assert "bank.AccountDeletionRefused v1" in events.stdout
    assert "12 events of account-ada" in events.stdout


def test_verify_finds_the_demo_file_sound(demo_run: Run, demo_folder: Path) -> None:
    """`verify` on the demo's file exits 0 and counts the upcast event."""
    run = read(demo_folder, "verify")
    assert run.code == 0, run.stdout + run.stderr
    assert "OK" in run.stdout
    assert "1 upcast" in run.stdout
    report = read(demo_folder, "verify", "--json").json_lines()
    assert report[0]["ok"] is True
    assert report[0]["events"] == 25


def test_the_demo_refuses_to_overwrite_its_file(demo_run: Run, demo_folder: Path) -> None:
    """A second `demo` refuses, in one line, and leaves the file as it was."""
    before = (demo_folder / "histoire-demo.db").stat().st_mtime_ns
    run = histoire_subprocess("demo", cwd=demo_folder)
    assert run.code == 1
    assert "--fresh" in one_line_error(run)
    assert (demo_folder / "histoire-demo.db").stat().st_mtime_ns == before


def test_the_checkout_and_the_payment_show_different_ids(demo_run: Run) -> None:
    """The causal table tells the checkout's id from the payment's (not the UUIDv7 time prefix)."""
    lines = demo_run.stdout.splitlines()
    title = next(line for line in lines if "The payment was caused by the checkout" in line)
    checkout_id = title.split("checkout")[-1].strip(" │┃")
    checkout_row = next(line for line in lines if "cart.CartCheckedOut" in line and "@" in line)
    payment_row = next(
        line for line in lines if "bank.Withdrawn" in line and checkout_id in line and "@" in line
    )
    assert checkout_id in checkout_row.split()
    payment_cells = payment_row.replace("│", " ").split()
    payment_id, caused_by = payment_cells[2], payment_cells[3]
    assert caused_by == checkout_id
    assert payment_id != checkout_id


def test_the_refused_deletion_mails_the_support_into_the_outbox(
    demo_run: Run, demo_folder: Path
) -> None:
    """The demo's reaction writes the support's mail beside the file, and raises one alert."""
    (mail,) = (demo_folder / "histoire-demo-outbox").glob("*.eml")
    text = mail.read_text()
    assert "Subject: Account deletion refused: account-ada" in text
    assert "Balance: 102.50" in text
    (alert,) = read(demo_folder, "events", "alerts-support", "--json").json_lines()
    assert alert["type"] == "alerts.AlertRaised"
    assert mail.name == f"{alert['causation_id']}.eml"
