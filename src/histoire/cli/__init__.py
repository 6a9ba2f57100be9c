"""The `histoire` command line: inspect, verify and migrate a store; watch the demo.

One module per command group; this one assembles them. `main` is the console
script's entry point; `load_app` loads an Application from `module:attribute`
as `--app` does, for other command lines and workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from histoire.cli._app import cli
from histoire.cli._inspect import events, log, streams
from histoire.cli._load_app import load_app
from histoire.cli._migrate import migrate
from histoire.cli._projections import projections
from histoire.cli._reactions import reactions
from histoire.cli._relay import relay
from histoire.cli._verify import verify
from histoire.cli.demo import demo

for _command in (demo, streams, events, log, verify, migrate, projections, reactions, relay):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the `histoire` command line with `argv` (default: the process's arguments)."""
    cli.main(args=argv, prog_name="histoire")


__all__ = ["cli", "load_app", "main"]
