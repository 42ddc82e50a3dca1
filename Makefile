# Everything runs from the project's own virtual environment in .venv, made on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 1
ARGS   ?=
TYPED  := $(wildcard core accounts codes sale app loadtest)

.PHONY: run test test-fast screenshots lint typecheck loadtest bench venv install

run: install
	$(BIN)/flashsale serve --host $(HOST) --port $(PORT) --workers $(WORKERS) $(ARGS)

test: install
	$(BIN)/python -m pytest $(ARGS)

# The inner loop: everything but the tests that start server processes or a browser (CI runs all).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

# Pages in English and Chinese at 390 and 1440 px into var/screenshots/ (with the axe-core and overflow checks).
screenshots: install
	$(BIN)/python -m pytest tests/e2e/test_pages_quality.py $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy --strict $(TYPED)

loadtest: install
	$(BIN)/flashsale loadtest $(ARGS)

bench: install
	$(BIN)/python -m loadtest.bench $(ARGS)

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when the project's dependencies (or their pins) change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,loadtest]"
	touch $@

install: $(STAMP)

