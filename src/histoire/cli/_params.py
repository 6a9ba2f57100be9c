"""Parameter types of the command line shared by several commands."""

from __future__ import annotations

import click


class Utf8Text(click.ParamType[str]):
    """Text that is valid UTF-8.

    On POSIX, Python hands over argument bytes that are not UTF-8 as lone
    surrogates (`$'t\\xff'` becomes 't\\udcff'); no stored name can hold them,
    and the database driver would fail to encode them. Refuse them here, with
    the bytes shown as given.
    """

    name = "text"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            try:
                shown: object = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # not from POSIX bytes: a UTF-16 half (Windows)
                shown = text
            self.fail(f"{shown!r} is not UTF-8 text", param, ctx)
        return text


TEXT = Utf8Text()
