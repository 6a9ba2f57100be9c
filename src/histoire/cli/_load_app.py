"""Loading a user's Application from `module:attribute`, the convention of uvicorn and celery.

`histoire verify --app shop.events:app` imports `shop.events` and takes its
`app`: an Application, or a function of no arguments returning one (a factory,
`shop.events:make_app`). The attribute may be dotted (`shop:settings.app`).
Every way this can fail says which part failed, and shows the inner error.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from histoire.app.application import Application
from histoire.core.errors import InvalidAppError

APP_ENV = "HISTOIRE_APP"


def load_app(spec: str, *, app_dir: str | os.PathLike[str] | None = ".") -> Application:
    """The Application that `spec` (`module:attribute`) names.

    Like uvicorn, the folder `app_dir` (default: the current folder) is put
    first on `sys.path`, so that `module` is found where the command runs;
    pass None to leave `sys.path` alone. Raises InvalidAppError naming what
    failed: the form of `spec`, the module (missing, or failing to import),
    the attribute, or the object's type.
    """
    module_name, attribute = _split(spec)
    if app_dir is not None:
        folder = os.path.abspath(app_dir)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module = _import(spec, module_name)
    found = _attribute(spec, module, attribute)
    if isinstance(found, Application):
        return found
    if callable(found) and not isinstance(found, type):
        try:
            made = found()
        except Exception as exc:
            raise InvalidAppError(
                spec, f"calling {attribute}() raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(made, Application):
            return made
        raise InvalidAppError(
            spec, f"{attribute}() returned {_kind(made)}, not a histoire.Application"
        )
    raise InvalidAppError(
        spec,
        f"{attribute} is {_kind(found)}, not a histoire.Application "
        "(nor a function of no arguments returning one)",
    )


def _split(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise InvalidAppError(str(spec), "expected a str of the form module:attribute")
    module_name, colon, attribute = spec.strip().partition(":")
    if not colon or not module_name or not attribute:
        raise InvalidAppError(
            spec,
            "expected module:attribute, for example shop.events:app "
            "(the module to import, a colon, the Application in it)",
        )
    return module_name, attribute


def _import(spec: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The module itself (or a package above it) missing, or an import inside it?
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise InvalidAppError(
                spec,
                f"no module named {missing!r} (searched the current folder and sys.path; "
                "run from the folder that holds it, or set PYTHONPATH)",
            ) from exc
        raise InvalidAppError(
            spec, f"module {module_name!r} was found, but importing it failed: {exc}"
        ) from exc
    except Exception as exc:
        raise InvalidAppError(
            spec,
            f"module {module_name!r} was found, but importing it raised "
            f"{type(exc).__name__}: {exc}",
        ) from exc


def _attribute(spec: str, module: ModuleType, attribute: str) -> object:
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            apps = sorted(n for n, v in vars(module).items() if isinstance(v, Application))
            hint = f" (its Applications: {', '.join(apps)})" if apps else ""
            raise InvalidAppError(
                spec, f"module {module.__name__!r} has no attribute {attribute!r}{hint}"
            ) from None
    return found


def _kind(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__qualname__}"
    name = type(value).__qualname__
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"
