"""The public API: what `histoire` exports, kept honest."""

from __future__ import annotations

import importlib.metadata
import types

import histoire


def isort_key(name: str) -> tuple[int, str]:
    """CONSTANTS first, then Classes, then everything else, each alphabetically."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    """__all__ lists constants, classes, then functions, each in alphabetical order."""
    assert histoire.__all__ == sorted(histoire.__all__, key=isort_key)


def test_all_has_no_duplicates() -> None:
    """Every name appears in __all__ once."""
    assert len(histoire.__all__) == len(set(histoire.__all__))


def test_every_name_in_all_resolves() -> None:
    """Every name in __all__ is an attribute of histoire."""
    missing = [name for name in histoire.__all__ if not hasattr(histoire, name)]
    assert missing == []


def test_every_public_name_is_in_all() -> None:
    """A public name imported into histoire is listed in __all__ (submodules aside)."""
    public = {
        name
        for name, value in vars(histoire).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(histoire.__all__) == set()


def test_star_import_gives_exactly_all() -> None:
    """`from histoire import *` binds every name of __all__."""
    namespace: dict[str, object] = {}
    exec("from histoire import *", namespace)
    assert set(histoire.__all__) <= set(namespace)


def test_the_version_matches_the_installed_distribution() -> None:
    """histoire.__version__ is the version pip installed."""
    assert histoire.__version__ == importlib.metadata.version("histoire")
