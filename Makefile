# Two entry points for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install stamps: `make run` needs only what the bot runs on; checks, tests and benchmarks add the dev tools.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# The desk's browser tests drive Debian's Chromium; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

# One test process per core; a module's tests stay together (they share its served bot and database).
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest -n auto --dist loadfile

# Installed when missing (Debian's package); the tests fail, never skip, without it.
$(CHROMIUM):
	$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  || { echo "FAIL: could not install Debian's chromium ($(CHROMIUM)), needed by the desk's browser tests" >&2; exit 1; }
	test -x $(CHROMIUM)

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
