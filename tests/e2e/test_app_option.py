"""`--app module:attribute`: the command line loads the user's Application, as uvicorn does."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from histoire import Application, InvalidAppError, NewEvent, open_store
from histoire.cli import load_app

from .conftest import histoire_subprocess, one_line_error

SHOP = """
from typing import ClassVar

import msgspec

from histoire import Application, Decider, Event, Upcasters


class Sold(Event):
    type_name: ClassVar[str] = "shop.Sold"
    schema_version: ClassVar[int] = 2
    sku: str
    quantity: int


class Sell(msgspec.Struct):
    sku: str


upcasters = Upcasters()


@upcasters.register("shop.Sold", 1)
def _one_by_default(payload):
    return {**payload, "quantity": 1}


shop = Decider(
    name="shop",
    initial_state=int,
    decide=lambda command, state: [Sold(sku=command.sku, quantity=1)],
    evolve=lambda state, event: state + event.quantity,
    events=[Sold],
)

app = Application(name="shop", deciders=[shop], upcasters=upcasters, store_url=STORE_URL)


def make_app():
    return app
"""


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Modules written by a test are forgotten after it (their names are reused)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_module(folder: Path, source: str, store_url: str | None = "sqlite:///shop.db") -> str:
    """Write `source` as a module of a new name in `folder`; return the name."""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(
        f"STORE_URL = {store_url!r}\n" + textwrap.dedent(source), encoding="utf-8"
    )
    return name


def flat(text: str) -> str:
    """`text` with its line breaks (wrapped at 80 columns) as single spaces."""
    return " ".join(text.split())


def sold(data: bytes, schema_version: int = 2) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(), type="shop.Sold", schema_version=schema_version, data=data
    )


@pytest.fixture
def shop(tmp_path: Path, clean_imports: None, histoire: Any) -> str:
    """A module of the current folder holding `app`; its store has one stream of 3 events."""
    name = write_module(tmp_path, SHOP)
    store = open_store("sqlite:///shop.db")
    store.append(
        "item-1",
        [
            sold(b'{"sku": "A", "quantity": 2}'),
            sold(b'{"sku": "A"}', schema_version=1),  # upcast: quantity 1
            sold(b'{"sku": "A", "quantity": 3}'),
        ],
    )
    store.close()
    return name


def test_verify_decodes_with_the_apps_types_and_upcasters(histoire: Any, shop: str) -> None:
    """With --app, every event is decoded with the application's classes, upcast included."""
    run = histoire("verify", "--app", f"{shop}:app")
    assert run.code == 0, run.stdout + run.stderr
    assert "3 events decoded to their class, 1 upcast from an older schema" in flat(run.stdout)
    assert "(the types of shop)" in flat(run.stdout)


def test_a_poisoned_stream_is_a_defect_naming_the_event_and_field(histoire: Any, shop: str) -> None:
    """An int stored for a str field: verify names stream, version, position, type and field."""
    store = open_store("sqlite:///shop.db")
    store.append("item-1", [sold(b'{"sku": 42, "quantity": 1}')])
    store.close()
    without = histoire("verify", "--store", "sqlite:///shop.db")
    assert without.code == 0
    assert "Unknown types, checked as JSON only: shop.Sold (4)" in without.stdout
    assert "Pass --app module:attribute" in without.stdout
    run = histoire("verify", "--app", f"{shop}:app", "--json")
    assert run.code == 1
    (defect,) = run.json_lines()[0]["defects"]
    assert (defect["stream_id"], defect["version"], defect["position"]) == ("item-1", 4, 4)
    assert "shop.Sold" in defect["problem"]
    assert "$.sku" in defect["problem"]


def test_a_factory_and_the_environment_variable_work_too(histoire: Any, shop: str) -> None:
    """`module:make_app` (a function returning the app) and HISTOIRE_APP both load it."""
    assert histoire("verify", "--app", f"{shop}:make_app").code == 0
    run = histoire("verify", env={"HISTOIRE_APP": f"{shop}:app"})
    assert "(the types of shop)" in flat(run.stdout)


def test_the_store_url_comes_from_store_then_env_then_app_then_default(
    histoire: Any, tmp_path: Path, clean_imports: None
) -> None:
    """--store beats HISTOIRE_STORE, which beats the app's store_url, which beats the default."""
    name = write_module(tmp_path, SHOP, store_url="sqlite:///from-app.db")
    for file in ("from-app.db", "from-env.db", "from-option.db", "histoire.db"):
        open_store(f"sqlite:///{file}").close()

    def used(*args: str, env: dict[str, str] | None = None) -> str:
        run = histoire(*args, "streams", env=env)
        assert run.code == 0, run.stderr
        return run.stdout.split(" in ")[-1].strip()

    env = {"HISTOIRE_STORE": "sqlite:///from-env.db"}
    assert used("--app", f"{name}:app") == "sqlite:///from-app.db"
    assert used("--app", f"{name}:app", env=env) == "sqlite:///from-env.db"
    assert used("--app", f"{name}:app", "--store", "sqlite:///from-option.db", env=env) == (
        "sqlite:///from-option.db"
    )
    assert used() == "sqlite:///histoire.db"


@pytest.mark.parametrize("command", [["streams"], ["log"], ["verify"], ["migrate"]])
def test_store_and_app_go_after_the_command_too(
    histoire: Any, shop: str, command: list[str]
) -> None:
    """`histoire verify --store X --app M:A` works like `histoire --store X --app M:A verify`."""
    run = histoire(*command, "--store", "sqlite:///shop.db", "--app", f"{shop}:app")
    assert run.code == 0, run.stderr
    before = histoire("--store", "sqlite:///shop.db", "--app", f"{shop}:app", *command)
    assert run.stdout == before.stdout


def test_the_option_after_the_command_wins(histoire: Any, shop: str) -> None:
    """Given before and after the command, the later --store is used."""
    run = histoire("--store", "sqlite:///missing.db", "streams", "--store", "sqlite:///shop.db")
    assert run.code == 0, run.stderr
    assert "1 stream in sqlite:///shop.db" in run.stdout


BROKEN = {
    "no colon": ("{name}", "expected module:attribute"),
    "empty attribute": ("{name}:", "expected module:attribute"),
    "missing module": ("nowhere_{name}:app", "no module named 'nowhere_"),
    "missing package": ("nowhere_{name}.sub:app", "no module named 'nowhere_"),
    "import error inside": ("{name}_imports:app", "importing it failed: No module named 'absent_"),
    "error inside": ("{name}_raises:app", "importing it raised ZeroDivisionError"),
    "missing attribute": ("{name}:nope", "has no attribute 'nope' (its Applications: app)"),
    "wrong type": ("{name}:STORE_URL", "STORE_URL is a str, not a histoire.Application"),
    "a class": ("{name}:Sold", "the class Sold, not a histoire.Application"),
    "factory raises": ("{name}_raises_later:make", "calling make() raised RuntimeError: no"),
    "factory returns": ("{name}_raises_later:other", "other() returned an int, not"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_bad_app_is_one_clear_line(
    histoire: Any, tmp_path: Path, clean_imports: None, case: str
) -> None:
    """Each way --app can fail says which part failed (exit 2), showing the inner error."""
    name = write_module(tmp_path, SHOP)
    (tmp_path / f"{name}_imports.py").write_text(f"import absent_{name}\n")
    (tmp_path / f"{name}_raises.py").write_text("1 / 0\n")
    (tmp_path / f"{name}_raises_later.py").write_text(
        "def make():\n    raise RuntimeError('no')\n\ndef other():\n    return 7\n"
    )
    spec, says = BROKEN[case]
    run = histoire("verify", "--app", spec.format(name=name))
    assert run.code == 2, run.stdout
    line = one_line_error(run)
    assert "cannot load the application" in line
    assert says.format(name=name) in line


def test_load_app_is_public_for_workers(tmp_path: Path, clean_imports: None) -> None:
    """histoire.cli.load_app gives the Application, or InvalidAppError."""
    name = write_module(tmp_path, SHOP)
    app = load_app(f"{name}:app", app_dir=tmp_path)
    assert isinstance(app, Application)
    assert app.name == "shop"
    with pytest.raises(InvalidAppError) as caught:
        load_app(f"{name}:nothing", app_dir=tmp_path)
    assert caught.value.spec == f"{name}:nothing"


def test_a_user_at_a_shell_loads_the_app_of_the_current_folder(tmp_path: Path) -> None:
    """`python -m histoire verify --app shop:app` run in the module's folder finds it."""
    name = write_module(tmp_path, SHOP)
    open_store("sqlite:///" + str(tmp_path / "shop.db")).close()
    run = histoire_subprocess("verify", "--app", f"{name}:app", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert "(the types of shop)" in flat(run.stdout)


@pytest.mark.parametrize("command", [["streams"], ["log"], ["events", "item-1"]])
def test_a_wrong_app_is_an_error_even_for_a_command_that_does_not_need_it(
    histoire: Any, shop: str, command: list[str]
) -> None:
    """A typo in --app (or HISTOIRE_APP) is reported, never silently ignored, also when
    --store names the store and the command would not use the application."""
    good = histoire(*command, "--app", f"{shop}:app", "--store", "sqlite:///shop.db")
    assert good.code == 0, good.stderr
    bad = histoire(*command, "--app", f"{shop}_typo:app", "--store", "sqlite:///shop.db")
    assert bad.code == 2
    assert f"cannot load the application '{shop}_typo:app'" in bad.stderr
    from_env = histoire(*command, "--store", "sqlite:///shop.db", env={"HISTOIRE_APP": "x:y"})
    assert from_env.code == 2 and "'x:y'" in from_env.stderr
