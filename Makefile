# Smart CloudOps AI — the commands a user runs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install up demo test test-fast lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP)  ## create .venv and install everything (run by up and test)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

up: install  ## run the whole stack locally (Redis started if none answers); Ctrl-C stops it
	$(BIN)/scops up

demo: install  ## beside `make up`: send an incident through the stack and print its timeline
	$(BIN)/scops demo

test: install  ## the whole suite (unit, integration, end to end), then lint
	$(BIN)/pytest
	$(MAKE) --no-print-directory lint

test-fast: install  ## unit tests only
	$(BIN)/pytest tests/unit

lint: install  ## ruff (lint + format check), mypy, and the import boundaries (docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## benchmarks (print figures; each starts what it needs)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the virtual environment and run files
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
