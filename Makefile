# The two commands: `make demo` (the main job) and `make test` (what CI runs).
# Both create the virtual environment in .venv and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit guarantees soak bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("histoire needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/histoire demo --fresh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck unit

# The guarantee suites alone (docs/guarantees.md); they also run in `unit`.
guarantees: $(VENV)/.installed-dev
	$(BIN)/pytest -q -p no:cacheprovider -m guarantees

# The same suites, pushing harder: 5x the kills, faults and run times (HISTOIRE_SOAK_FACTOR=n for n x).
soak: $(VENV)/.installed-dev
	HISTOIRE_SOAK=1 $(BIN)/pytest -q -p no:cacheprovider -m guarantees -s

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
