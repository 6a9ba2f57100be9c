"""Checking messages against their classes, since msgspec structs do not check on construction.

`Borrowed(member=42)` builds without complaint. Stored, it would make its
stream unreadable forever, so an event is checked by what matters: it is
encoded, decoded back with its class's strict decoder, and the event read
back must be equal (`==`) to the one given. Equal, not identical: 5 given to
a float field reads back as 5.0 and a str given to a StrEnum field as the
member, both equal, so they pass, and the caller carries on with the event
read back (what every later load will see). Refused: True or 5.5 for an int,
a str for an Enum, a list for a tuple, a dict for a struct, NaN and infinity
(JSON has no such numbers: they would be stored as null), any value JSON
cannot hold.

A command is not stored, so it is checked against its declared field types
only (msgspec.convert, field by field, without going through JSON): a field
typed `Any`, or typed with a class of the user's own, takes any value of that
type. Nested structs are taken as they are; what they hold is checked when it
reaches an event.
"""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import msgspec

from histoire.core.errors import HistoireError, MalformedCommandError
from histoire.core.messages import Command

M = TypeVar("M")

_encode = msgspec.json.Encoder().encode
_AT = re.compile(r" - at `\$(.*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[([^\]]*)\]")
_NON_FINITE = (
    "NaN and infinity cannot be stored: JSON has no such numbers (they would read back as null)"
)


class FieldErrorType(Protocol):
    """An error class taking (type_name, path, value, reason): what a failed check raises."""

    def __call__(self, type_name: str, path: str, value: object, reason: str) -> HistoireError: ...


def encode_and_read_back(
    message: M, decode: Callable[[bytes], M], error: FieldErrorType, type_name: str
) -> tuple[bytes, M]:
    """The JSON of `message` and the message decoded from it, or `error` if they differ."""
    try:
        data = _encode(message)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        path, value = _unencodable(message, "")
        raise error(type_name, path, value, f"cannot be encoded as JSON: {exc}") from exc
    try:
        decoded = decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid(message, exc, error, type_name) from exc
    if decoded != message:
        path, given, read = _difference(message, decoded, "")
        raise error(type_name, path, given, _mismatch(given, read))
    return data, decoded


def check_command(command: M) -> M:
    """`command` as its class declares it if it is a histoire Command (others pass as they are).

    Raises MalformedCommandError naming the field whose value is not of its type.
    """
    if not isinstance(command, Command):
        return command
    plain = _plain_fields(type(command))
    if plain is not None:
        for name, kind in plain:
            if type(getattr(command, name)) is not kind:
                break
        else:
            return command  # what converting it gives back: an equal command
    return convert_fields(command, MalformedCommandError, type(command).__qualname__)


_PLAIN: tuple[tuple[msgspec.inspect.Type, type], ...] = (
    (msgspec.inspect.StrType(), str),
    (msgspec.inspect.IntType(), int),
    (msgspec.inspect.BoolType(), bool),
)


@functools.lru_cache(maxsize=256)
def _plain_fields(cls: type) -> tuple[tuple[str, type], ...] | None:
    """The name and type of each field of `cls` if all are plain str, int or bool, else None.

    Plain: without constraints (`Meta`), in a struct without `__post_init__`.
    A value of exactly that type converts to itself, so that a command whose
    fields all hold one needs no conversion (a tenth of a command's cost).
    """
    if hasattr(cls, "__post_init__"):
        return None
    info = msgspec.inspect.type_info(cls)
    if not isinstance(info, msgspec.inspect.StructType):
        return None
    fields = []
    for field in info.fields:
        kind = next((plain for shape, plain in _PLAIN if field.type == shape), None)
        if kind is None:
            return None
        fields.append((field.name, kind))
    return tuple(fields)


def convert_fields(message: M, error: FieldErrorType, type_name: str) -> M:
    """`message` rebuilt from its fields by its class's declared types, or `error` if it differs."""
    cls = type(message)
    fields = types.SimpleNamespace(**msgspec.structs.asdict(message))  # type: ignore[arg-type]
    try:
        converted: M = msgspec.convert(fields, cls, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise _invalid(message, exc, error, type_name) from exc
    if converted != message:
        path, given, read = _difference(message, converted, "")
        raise error(type_name, path, given, _mismatch(given, read))
    return converted


def _invalid(
    message: object, exc: msgspec.ValidationError, error: FieldErrorType, type_name: str
) -> HistoireError:
    text = str(exc)
    at = _AT.search(text)
    path, value = _follow(message, at.group(1) if at else "")
    reason = text[: at.start()] if at else text
    if _non_finite(value):
        reason = _NON_FINITE
    elif reason[:1].isupper():
        reason = reason[0].lower() + reason[1:]
    return error(type_name, path, value, reason)


def _mismatch(given: object, read: object) -> str:
    if _non_finite(given):
        return _NON_FINITE
    shown = repr(read)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return (
        f"reads back as {shown} ({type(read).__qualname__}), not the "
        f"{type(given).__qualname__} given: give the field its declared type"
    )


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _join(path: str, step: str) -> str:
    return f"{path}.{step}" if path and not step.startswith("[") else path + step


def _follow(message: object, json_path: str) -> tuple[str, object]:
    """The field path (attribute names) and value that msgspec's `$...` path points at.

    A step that cannot be followed (a dict key msgspec shows as `[...]`) ends
    the walk: the rest of msgspec's path is kept as it is.
    """
    path, value = "", message
    for match in _STEP.finditer(json_path):
        name, index = match.groups()
        if name is not None and isinstance(value, msgspec.Struct):
            fields = msgspec.structs.fields(value)
            attr = next((f.name for f in fields if f.encode_name == name), None)
            if attr is None:
                break
            path, value = _join(path, attr), getattr(value, attr)
        elif index is not None and index.isdigit() and isinstance(value, list | tuple):
            if int(index) >= len(value):
                break
            path, value = f"{path}[{index}]", value[int(index)]
        else:
            break
    else:
        return path, value
    return _join(path, json_path[match.start() :].lstrip(".")), value


def _difference(given: Any, read: Any, path: str) -> tuple[str, object, object]:
    """The deepest place where `given` and `read` differ, and their values there."""
    if type(given) is type(read):
        if isinstance(given, msgspec.Struct):
            for field in given.__struct_fields__:
                inner, other = getattr(given, field), getattr(read, field)
                if inner != other:
                    return _difference(inner, other, _join(path, field))
        elif isinstance(given, list | tuple) and len(given) == len(read):
            for index, (inner, other) in enumerate(zip(given, read, strict=True)):
                if inner != other:
                    return _difference(inner, other, f"{path}[{index}]")
        elif isinstance(given, dict) and given.keys() == read.keys():
            for key, inner in given.items():
                if inner != read[key]:
                    return _difference(inner, read[key], f"{path}[{key!r}]")
    return path, given, read


def _unencodable(value: Any, path: str) -> tuple[str, object]:
    """The deepest place in `value` that JSON cannot encode, and the value there."""
    if isinstance(value, msgspec.Struct):
        items: Any = ((_join(path, f), getattr(value, f)) for f in value.__struct_fields__)
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        items = ((f"{path}[{k!r}]", v) for k, v in value.items())
    else:
        return path, value
    for inner_path, inner in items:
        try:
            _encode(inner)
        except (TypeError, ValueError, msgspec.EncodeError):
            return _unencodable(inner, inner_path)
    return path, value
