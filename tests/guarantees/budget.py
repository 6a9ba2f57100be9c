"""How hard the guarantee suites push: bounded for CI, longer on demand (`make soak`).

HISTOIRE_SOAK=1 multiplies kill counts and run times by SOAK_FACTOR (or by
HISTOIRE_SOAK_FACTOR when it is set).
"""

from __future__ import annotations

import os

SOAK = os.environ.get("HISTOIRE_SOAK") == "1"
SOAK_FACTOR = int(os.environ.get("HISTOIRE_SOAK_FACTOR", "5")) if SOAK else 1


def times(count: int) -> int:
    """`count` kills, faults or rounds in CI; SOAK_FACTOR times as many in soak mode."""
    return count * SOAK_FACTOR


def seconds(duration: float) -> float:
    """`duration` seconds in CI; SOAK_FACTOR times as long in soak mode."""
    return duration * SOAK_FACTOR
