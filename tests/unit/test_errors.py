"""The exception tree: one base, specific subclasses, drawn honestly in errors.py."""

from __future__ import annotations

import inspect
import re
import uuid

import pytest

import histoire
from histoire.core import errors
from histoire.core.versions import NO_STREAM

DEFINED = {
    name: cls
    for name, cls in vars(errors).items()
    if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
}


def drawn_tree() -> dict[str, str | None]:
    """Each class named in the errors.py docstring tree, mapped to its drawn parent."""
    doc = errors.__doc__ or ""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z]\w*Error)\b", line.strip("\n"))
        if not match or not line.startswith("    "):
            continue
        depth = len(match.group("lead"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        name = match.group("name")
        assert name not in parents, f"{name} is drawn twice"
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def test_there_are_errors_to_check() -> None:
    """The module defines the base and its subclasses (guards the tests below)."""
    assert "HistoireError" in DEFINED
    assert len(DEFINED) >= 15


@pytest.mark.parametrize("name", sorted(DEFINED))
def test_every_error_is_a_histoire_error(name: str) -> None:
    """Catching HistoireError catches every error histoire raises."""
    assert issubclass(DEFINED[name], errors.HistoireError)


def test_the_docstring_tree_names_every_error_once() -> None:
    """The tree drawn in errors.py's docstring holds exactly the classes defined there."""
    assert set(drawn_tree()) == set(DEFINED)


def test_the_docstring_tree_draws_each_error_under_its_base() -> None:
    """Each class sits in the drawn tree under the histoire class it derives from."""
    for name, parent in drawn_tree().items():
        bases = [b.__name__ for b in DEFINED[name].__bases__ if b.__name__ in DEFINED]
        assert bases == ([parent] if parent else []), f"{name} is drawn under {parent}"


@pytest.mark.parametrize("name", sorted(DEFINED))
def test_every_error_is_exported(name: str) -> None:
    """Every error class can be imported from histoire itself."""
    assert getattr(histoire, name) is DEFINED[name]
    assert name in histoire.__all__


def test_invalid_input_is_also_a_value_error() -> None:
    """Code that catches ValueError for bad arguments also catches histoire's."""
    assert issubclass(errors.InvalidStreamIdError, ValueError)
    assert issubclass(errors.InvalidExpectedVersionError, ValueError)


def test_unavailable_stores_are_retryable() -> None:
    """StoreUnavailableError says it may be retried; other store errors do not."""
    assert errors.StoreUnavailableError("x").retryable is True
    assert not getattr(errors.IntegrityError("x"), "retryable", False)


SAMPLES = [
    errors.InvalidStreamIdError("", "must not be empty"),
    errors.InvalidExpectedVersionError(-1),
    errors.InvalidStoreURLError("ftp://x", "unknown scheme 'ftp'"),
    errors.ConcurrencyError("account-1", NO_STREAM, 3),
    errors.DuplicateEventError("account-1", uuid.UUID(int=1), "stored in account-2"),
    errors.UnknownEventTypeError("bank.Gone", ["bank.Opened"]),
    errors.EventDecodeError("bank.Deposited", 2, "missing amount", stream_id="account-1"),
    errors.InvalidEventError("library.Borrowed", "member", 42, "expected `str`, got `int`"),
    errors.MalformedCommandError("Borrow", "member", 42, "expected `str`, got `int`"),
    errors.InvalidDecisionError("library", None),
    errors.UpcastError("bank.Deposited", 1, 2, "no upcaster registered from v1"),
    errors.StoreNotFoundError("sqlite:///missing.db"),
    errors.RetriesExhaustedError("account-1", 4, errors.ConcurrencyError("account-1", 3, 4)),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_say_what_happened_in_one_line(error: errors.HistoireError) -> None:
    """Messages are one line and hold the context a person needs to act."""
    message = str(error)
    assert message and "\n" not in message


def test_errors_carry_their_context_as_attributes() -> None:
    """Context is available as attributes, not only in the message."""
    last = errors.ConcurrencyError("account-1", 3, 4)
    exhausted = errors.RetriesExhaustedError("account-1", 4, last)
    assert (exhausted.stream_id, exhausted.attempts, exhausted.last) == ("account-1", 4, last)
    decode = errors.EventDecodeError("bank.Deposited", 2, "bad", stream_id="account-1", version=3)
    assert decode.where == {"stream_id": "account-1", "version": 3}
    assert "stream_id=account-1" in str(decode)
    unknown = errors.UnknownEventTypeError("x", ["b", "a"])
    assert unknown.known == ["a", "b"]
    assert errors.StoreNotFoundError("sqlite:///x.db").url == "sqlite:///x.db"
