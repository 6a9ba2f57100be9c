"""The `histoire` command group: the global `--store` option and error reporting.

Every error ends as one line on stderr and a non-zero exit status, never a
traceback: 2 for a usage error (a bad option or argument, an invalid stream id
or store URL), 1 for anything else (a store that does not exist, a failed
check, a defect).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from histoire.core.errors import HistoireError, InvalidInputError

DEFAULT_STORE = "sqlite:///histoire.db"
STORE_ENV = "HISTOIRE_STORE"

USAGE_ERROR = 2
FAILURE = 1


class _NeverRaised(Exception):
    pass


# click >= 8.2 raises it for a group called without a command; older versions exit by themselves.
_NO_ARGS_IS_HELP: type[Exception] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the global options chose, passed to every command as `ctx.obj`."""

    store_url: str
    store_chosen: bool
    """Whether the URL came from `--store` or HISTOIRE_STORE rather than the default."""


def fail(message: str, code: int = FAILURE) -> NoReturn:
    """Print `message` as one line on stderr and exit with `code`."""
    line = " ".join(str(message).split())
    click.echo(f"Error: {line}", err=True)
    sys.exit(code)


class HistoireGroup(click.Group):
    """A click group that turns every error into one line on stderr."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if isinstance(exc, _NO_ARGS_IS_HELP) and exc.ctx is not None:
                click.echo(exc.ctx.get_help())  # `histoire` alone: the help, not an error
                sys.exit(0)
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(exc.format_message() + hint, USAGE_ERROR)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("interrupted", 130)
        except InvalidInputError as exc:  # from the command line: a stream id, a store URL
            fail(str(exc), USAGE_ERROR)
        except HistoireError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(str(exc))
        except Exception as exc:  # a defect of histoire: still one line, but say so
            fail(f"unexpected {type(exc).__name__}: {exc} (a bug in histoire; please report it)")
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    name="histoire",
    cls=HistoireGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--store",
    "store_url",
    envvar=STORE_ENV,
    default=DEFAULT_STORE,
    show_default=True,
    metavar="URL",
    help=(
        "The event store: memory://, sqlite:///relative.db, sqlite:////absolute.db, "
        "postgresql://user@host:port/db. Also read from HISTOIRE_STORE."
    ),
)
@click.version_option(package_name="histoire", prog_name="histoire")
@click.pass_context
def cli(ctx: click.Context, store_url: str) -> None:
    """histoire: event sourcing for Python. Inspect, check and migrate an event store,
    or watch the demo tell its story.

    Read-only commands (streams, events, log, verify) never create a store.
    """
    chosen = ctx.get_parameter_source("store_url") is not ParameterSource.DEFAULT
    ctx.obj = Settings(store_url=store_url, store_chosen=chosen)
