"""The `histoire` command group: the global `--store` and `--app` options, error reporting.

Every error ends as one line on stderr and a non-zero exit status, never a
traceback: 2 for a usage error (a bad option or argument, an invalid stream id
or store URL), 1 for anything else (a store that does not exist, a failed
check, a defect).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

from histoire.app.application import Application
from histoire.cli._load_app import APP_ENV, load_app
from histoire.cli._params import TEXT
from histoire.core.errors import HistoireError, InvalidInputError

DEFAULT_STORE = "sqlite:///histoire.db"
STORE_ENV = "HISTOIRE_STORE"

USAGE_ERROR = 2
FAILURE = 1


class _NeverRaised(Exception):
    pass


# click >= 8.2 raises it for a group called without a command; older versions exit by themselves.
_NO_ARGS_IS_HELP: type[Exception] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


@dataclass(slots=True)
class Settings:
    """What the global options chose, passed to every command as `ctx.obj`.

    `--store` and `--app` may come before the command or after it; the last
    one given wins. The store URL is, in order: `--store`, HISTOIRE_STORE, the
    application's `store_url`, then `sqlite:///histoire.db`.
    """

    store_option: str | None = None
    """The URL given by `--store` or HISTOIRE_STORE, if any."""
    app_spec: str | None = None
    """`module:attribute` given by `--app` or HISTOIRE_APP, if any."""
    _app: Application | None = None

    @property
    def store_chosen(self) -> bool:
        """Whether `--store` or HISTOIRE_STORE named the store."""
        return self.store_option is not None

    @property
    def store_url(self) -> str:
        """The store to open: `--store`, HISTOIRE_STORE, the app's store_url, the default.

        An application named by `--app` or HISTOIRE_APP is loaded here even when
        the command does not use it: a wrong one is an error, never ignored.
        """
        app = self.app
        if self.store_option is not None:
            return self.store_option
        if app is not None and app.store_url:
            return app.store_url
        return DEFAULT_STORE

    @property
    def app(self) -> Application | None:
        """The user's Application, loaded on first use; None without `--app`."""
        if self.app_spec is None:
            return None
        if self._app is None:
            self._app = load_app(self.app_spec)
        return self._app


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


STORE_HELP = (
    "The event store: memory://, sqlite:///relative.db, sqlite:////absolute.db, "
    f"postgresql://user@host:port/db. Also read from {STORE_ENV}; default: the "
    f"application's store_url, else {DEFAULT_STORE}."
)
APP_HELP = (
    "Your application, as module:attribute (an Application, or a function returning "
    f"one), imported from the current folder. Also read from {APP_ENV}."
)


@click.group(
    name="histoire",
    cls=HistoireGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--store", "store_url", envvar=STORE_ENV, metavar="URL", type=TEXT, help=STORE_HELP)
@click.option("--app", "app_spec", envvar=APP_ENV, metavar="MODULE:ATTR", type=TEXT, help=APP_HELP)
@click.version_option(package_name="histoire", prog_name="histoire")
@click.pass_context
def cli(ctx: click.Context, store_url: str | None, app_spec: str | None) -> None:
    """histoire: event sourcing for Python. Inspect, check and migrate an event store,
    or watch the demo tell its story.

    Read-only commands (streams, events, log, verify) never create a store.
    --store and --app go before or after the command.
    """
    ctx.obj = Settings(store_option=store_url, app_spec=app_spec)


def _set_store(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).store_option = value


def _set_app(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        settings = ctx.ensure_object(Settings)
        settings.app_spec, settings._app = value, None


F = TypeVar("F", bound=Callable[..., Any])


def store_option(command: F) -> F:
    """Accept `--store` after the command too (`histoire verify --store URL`)."""
    return click.option(
        "--store",
        metavar="URL",
        type=TEXT,
        expose_value=False,
        callback=_set_store,
        help=f"The event store (as before the command). Also read from {STORE_ENV}.",
    )(command)


def app_option(command: F) -> F:
    """Accept `--app` after the command too (`histoire verify --app shop:app`)."""
    return click.option(
        "--app",
        metavar="MODULE:ATTR",
        type=TEXT,
        expose_value=False,
        callback=_set_app,
        help=APP_HELP,
    )(command)
