"""docs/guarantees.md names only tests that exist, and every suite of tests/guarantees."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from histoire.testing.contract import EventStoreContract

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "docs" / "guarantees.md"]
CONTRACT = "tests/contract/test_store_contract.py::TestEventStore::"
REFERENCE = re.compile(r"`((?:contract|tests/[\w/.]+\.py)::[\w:]*\w)`")


def references() -> list[str]:
    """Every `path::name` (and `contract::name`) the guarantee pages cite."""
    found: list[str] = []
    for page in PAGES:
        if page.exists():
            found += REFERENCE.findall(page.read_text(encoding="utf-8"))
    return found


def test_the_page_cites_tests() -> None:
    """The page is a table of promises with their tests, not prose alone."""
    assert len(references()) >= 40


@pytest.mark.parametrize("reference", sorted(set(references())))
def test_each_cited_test_exists(reference: str) -> None:
    """Each cited test (or helper) is a function of that file, or of the store contract."""
    reference = reference.replace("contract::", CONTRACT)
    path, _, name = reference.partition("::")
    *classes, function = name.split("::")
    if classes == ["TestEventStore"]:
        assert callable(getattr(EventStoreContract, function, None)), reference
        return
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert function in defined, reference


def test_every_guarantee_suite_is_on_the_page() -> None:
    """Each test module of tests/guarantees is cited by a guarantee page."""
    cited = {r.partition("::")[0] for r in references()}
    suites = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests" / "guarantees").glob("test_*.py")
        if path.name != "test_guarantees_page.py"
    }
    assert suites - cited == set()
