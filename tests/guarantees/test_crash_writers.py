"""CRASH: writer processes killed with SIGKILL at random moments lose no acknowledged command.

Three processes handle bank and ledger commands on shared streams, each
recording a command before it is sent and once handle() returned. The test
kills one at random every few tenths of a second and starts it again. After:
every acknowledged command is stored at its acknowledged versions, no command
is half stored, every stream's versions are 1..N, each event is in the log
once, `verify` is clean, and the `balances` view equals a clean rebuild.
"""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path
from typing import Any

import pytest

from histoire import open_store

from . import budget
from .bank_app import make_app, open_accounts
from .checks import (
    CommandLog,
    assert_commands_whole,
    assert_store_whole,
    assert_view_equals_rebuild,
)
from .children import ACCOUNTS, KillLoop, write_commands

pytestmark = [pytest.mark.guarantees, pytest.mark.slow]

WRITERS = 3
KILLS = budget.times(20)


def test_writers_killed_at_random_lose_no_acknowledged_command(
    target: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """20 SIGKILLs (100 in soak mode) of writers: every acknowledged command is intact."""
    url, options = target
    log = tmp_path / "commands.log"
    app = make_app()
    store = open_store(url, **options)
    open_accounts(store, app, ACCOUNTS)
    loop = KillLoop(write_commands, url, options, str(log))
    seeds = itertools.count()
    writers = [loop.start(next(seeds)) for _ in range(WRITERS)]
    rng = random.Random(12)
    try:
        for _ in range(KILLS):
            victim = rng.randrange(WRITERS)
            time.sleep(rng.uniform(0.1, 0.4))
            loop.kill(writers[victim])
            writers[victim] = loop.start(next(seeds))
    finally:
        for writer in writers:
            if writer.is_alive():
                loop.kill(writer)
    assert loop.kills == KILLS + WRITERS

    commands = CommandLog.read(log)
    try:
        events = assert_store_whole(store, app)
        stored = assert_commands_whole(store, commands)
        assert_view_equals_rebuild(store, app)
    finally:
        store.close()
    unacknowledged = len(commands.sent) - len(commands.acknowledged)
    assert len(commands.acknowledged) >= KILLS, "the writers hardly wrote between kills"
    print(
        f"\n{url.split(':')[0]}: {loop.kills} kills survived; {len(commands.acknowledged)} "
        f"acknowledged commands checked, {unacknowledged} cut by a kill "
        f"({stored - len(commands.acknowledged)} of them stored whole, none in part); "
        f"{events} events, each once"
    )
