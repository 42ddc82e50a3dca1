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

FUZZ_EXAMPLES ?= 30
# pytest-xdist workers, tests dealt one by one (tests/conftest.py keeps a module with a shared server
# together): each worker is a test run of its own (own Valkey, SQLite file or PostgreSQL database,
# key prefix). Many tests wait on I/O, so one more worker than the 2 cores; TEST_WORKERS=0 runs in
# one process (needed for pytest -s to show what tests print).
TEST_WORKERS ?= 3
XDIST  = -n $(TEST_WORKERS) --dist loadgroup

.PHONY: run test test-fast screenshots lint typecheck fuzz loadtest bench venv install

run: install
	$(BIN)/flashsale serve --host $(HOST) --port $(PORT) --workers $(WORKERS) $(ARGS)

test: install
	$(BIN)/python -m pytest $(XDIST) $(ARGS)

# The inner loop: everything but the tests that start server processes or a browser (CI runs all).
# pytest's last line gives the seconds of the run; the line after it, the whole command's.
test-fast: install
	@start=$$(date +%s); $(BIN)/python -m pytest $(XDIST) -m "not slow" $(ARGS); status=$$?; \
	  echo "make test-fast: $$(( $$(date +%s) - start )) s in all"; exit $$status

# Pages in English and Chinese at 390 and 1440 px into var/screenshots/ (with the axe-core and overflow checks).
screenshots: install
	$(BIN)/python -m pytest tests/e2e/test_pages_quality.py $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy --strict $(TYPED)

# Schemathesis, every check, against a server it starts: without a token and with an operator's.
fuzz: install
	$(BIN)/python scripts/fuzz.py --max-examples $(FUZZ_EXAMPLES) $(ARGS)

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

