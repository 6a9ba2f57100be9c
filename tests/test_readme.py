"""The Python examples of the README and the docs run, in order, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    "README.md",
    "docs/concepts.md",
    "docs/verify.md",
    "docs/projections.md",
    "docs/reactions.md",
    "docs/relay.md",
    "docs/asyncio.md",
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(document: Path) -> list[tuple[int, str]]:
    """Every ```python block of `document`, with the line it starts on."""
    text = document.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1)) for match in BLOCK.finditer(text)
    ]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_python_blocks_run_in_order(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each document's blocks run one after the other in one namespace, in an empty folder."""
    document = ROOT / name
    blocks = python_blocks(document)
    assert blocks, f"{name} has no python block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HISTOIRE_STORE", raising=False)
    namespace: dict[str, object] = {"__name__": f"histoire_docs_{document.stem}"}
    for line, code in blocks:
        # dont_inherit: this module's `from __future__ import annotations` must not leak in.
        exec(compile(code, f"{name}:{line}", "exec", dont_inherit=True), namespace)
