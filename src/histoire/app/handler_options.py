"""The command handlers' options, checked: ids, metadata, and the deprecated max_retries."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping

from histoire.app.retries import RetryPolicy
from histoire.core.errors import InvalidInputError

__all__ = ["check_handle_options", "from_max_retries"]


def check_handle_options(
    command_id: object, causation_id: object, correlation_id: object, metadata: object
) -> None:
    """Raise InvalidInputError for an id that is not a UUID or metadata that is not a
    mapping (None is absent): a falsy 0 or "" must not pass for "no id given"."""
    for name, value in (
        ("command_id", command_id),
        ("causation_id", causation_id),
        ("correlation_id", correlation_id),
    ):
        if value is not None and not isinstance(value, uuid.UUID):
            raise InvalidInputError(
                f"{name} must be a uuid.UUID or None, not {type(value).__name__} {value!r}"
            )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"metadata must be a mapping (str -> JSON value) or None, not {type(metadata).__name__}"
        )


def from_max_retries(max_retries: int, retry: RetryPolicy | None, owner: str) -> RetryPolicy:
    warnings.warn(
        f"{owner}(max_retries=n) is deprecated: pass retry=RetryPolicy(max_attempts=n + 1)",
        DeprecationWarning,
        stacklevel=4,
    )
    if retry is not None:
        raise InvalidInputError("give retry or max_retries (deprecated), not both")
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise InvalidInputError(f"max_retries must be an int >= 0, not {max_retries!r}")
    return RetryPolicy(max_attempts=max_retries + 1)
