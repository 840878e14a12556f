# Two entry points for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install stamps: `make run` needs only what the bot runs on; checks, tests and benchmarks add the dev tools.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint playground bench migration clean

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	mkdir -p var
	$(BIN)/python -m bot db upgrade
	$(BIN)/python -m bot run

lint: $(DEV_STAMP)
	$(BIN)/ruff check bot cards storage dialogs vocabulary tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

playground: $(RUNTIME_STAMP)
	./scripts/playground.sh

bench: $(DEV_STAMP)
	$(BIN)/python bench/turns.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/counts.py
	$(BIN)/python bench/announcements.py

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache

migration: $(DEV_STAMP)
	./scripts/new_migration.sh "$(MESSAGE)"
