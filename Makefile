# Two entry points for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint playground bench migration clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/python -m bot db upgrade
	$(BIN)/python -m bot run

lint: $(STAMP)
	$(BIN)/ruff check bot cards storage dialogs tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

playground: $(STAMP)
	./scripts/playground.sh

bench: $(STAMP)
	$(BIN)/python bench/turns.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/counts.py
	$(BIN)/python bench/announcements.py

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache

migration: $(STAMP)
	./scripts/regenerate_initial_migration.sh
