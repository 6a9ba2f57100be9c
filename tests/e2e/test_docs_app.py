"""The Application module of docs/verify.md works as written, from a shell, with --app."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from histoire import NewEvent
from histoire.cli import load_app

from .conftest import histoire_subprocess

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify.md"


@pytest.fixture
def stock_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding the doc's `stock.py`, and its store with one item."""
    module = re.search(r"```python\n(# stock\.py\n.*?)```", DOC.read_text(), re.DOTALL)
    assert module is not None, "docs/verify.md has no `# stock.py` block"
    (tmp_path / "stock.py").write_text(module.group(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    app = load_app("stock:app")
    store = app.open_store()
    items = app.handler("stock", store)
    items.handle("item-7", sys.modules["stock"].Receive(sku="tea", quantity=10))
    store.close()
    yield tmp_path
    del sys.modules["stock"]


def test_verify_with_the_documented_app(stock_folder: Path) -> None:
    """`histoire verify --app stock:app` decodes with stock's types; a poisoned event fails it."""
    run = histoire_subprocess("verify", "--app", "stock:app", cwd=stock_folder)
    assert run.code == 0, run.stdout + run.stderr
    assert "(the types of stock)" in run.stdout
    app = load_app("stock:app")
    store = app.open_store()
    poisoned = NewEvent(
        event_id=uuid.uuid4(),
        type="stock.Received",
        schema_version=2,
        data=b'{"sku": 42, "quantity": 1}',
    )
    store.append("item-7", [poisoned])
    store.close()
    run = histoire_subprocess(
        "verify", "--json", env={"HISTOIRE_APP": "stock:app"}, cwd=stock_folder
    )
    assert run.code == 1
    (defect,) = run.json_lines()[0]["defects"]
    assert (defect["stream_id"], defect["version"], defect["position"]) == ("item-7", 2, 2)
    assert "stock.Received" in defect["problem"]
    assert "$.sku" in defect["problem"]
