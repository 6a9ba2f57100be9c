"""Helpers to run the `histoire` command line as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from histoire.cli import cli


@dataclass(frozen=True)
class Run:
    """The outcome of one command line."""

    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def histoire_subprocess(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run `python -m histoire ARGS` in `cwd`, as a user at a shell would."""
    environment = {k: v for k, v in os.environ.items() if k != "HISTOIRE_STORE"}
    environment.update(env or {})
    environment["COLUMNS"] = "120"
    done = subprocess.run(
        [sys.executable, "-m", "histoire", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def histoire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `histoire ARGS` in-process (click's CliRunner), in an empty temporary folder."""
    monkeypatch.delenv("HISTOIRE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    yield run


def one_line_error(run: Run) -> str:
    """The error a failed command printed, checked to be one line and no traceback."""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert lines[0].startswith("Error: ")
    return lines[0]
