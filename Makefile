# Everything runs from the project's own virtual environment in .venv, made on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 1
ARGS   ?=
TYPED  := $(wildcard core audit accounts messages codes sale app loadtest fakes)

FUZZ_EXAMPLES ?= 30
# pytest-xdist workers, tests dealt one by one (tests/conftest.py keeps a module with a shared server
# together): each worker is a test run of its own (own Valkey, SQLite file or PostgreSQL database,
# key prefix). Many tests wait on I/O, so one more worker than the 2 cores; TEST_WORKERS=0 runs in
# one process (needed for pytest -s to show what tests print).
TEST_WORKERS ?= 3
XDIST  = -n $(TEST_WORKERS) --dist loadgroup
# Bytecode and pytest's rewritten test modules are cached (__pycache__) even where the shell says not
# to (PYTHONDONTWRITEBYTECODE=1 here): each xdist worker, and each server a test starts, otherwise
# compiled every module again, about a tenth of a test run's CPU.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: help run test test-fast screenshots lint typecheck rules fuzz loadtest bench venv install

.DEFAULT_GOAL := run

# Every target with its "##" description.
help: ## this list
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: install ## serve the store (flashsale serve; HOST, PORT, WORKERS, ARGS)
	$(BIN)/flashsale serve --host $(HOST) --port $(PORT) --workers $(WORKERS) $(ARGS)

test: install ## the whole suite (pytest on TEST_WORKERS workers; ARGS passes options through)
	$(BIN)/python -m pytest $(XDIST) $(ARGS)

# The inner loop: everything but the tests that start server processes or a browser (CI runs all).
# pytest's last line gives the seconds of the run; the line after it, the whole command's.
test-fast: install ## the suite without the tests marked slow (server processes, the browser); prints its seconds
	@start=$$(date +%s); $(BIN)/python -m pytest $(XDIST) -m "not slow" $(ARGS); status=$$?; \
	  echo "make test-fast: $$(( $$(date +%s) - start )) s in all"; exit $$status

# With the axe-core and overflow checks.
screenshots: install ## pages in English and Chinese at 390 and 1440 px into var/screenshots/
	$(BIN)/python -m pytest tests/e2e/test_pages_quality.py $(ARGS)

lint: install ## ruff and import-linter (the floors and the sale's layers)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install ## mypy --strict over the packages
	$(BIN)/mypy --strict $(TYPED)

# promtool from PATH, else into .venv/bin from Debian's prometheus package (scripts/install-promtool).
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo $(BIN)/promtool)
RULE_TESTS := deploy/prometheus/alerts_test.yml deploy/prometheus/alerts_slow_burn_test.yml

DASHBOARD := deploy/grafana/flashsale-live-drop.json

rules: ## check and unit-test the alert rules in deploy/prometheus, parse the dashboard's queries (promtool)
	@test -x $(PROMTOOL) || scripts/install-promtool $(BIN)
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	$(PROMTOOL) test rules $(RULE_TESTS)
	@mkdir -p var && scripts/dashboard-rules $(DASHBOARD) > var/dashboard-rules.yml
	$(PROMTOOL) check rules var/dashboard-rules.yml

# Schemathesis, every check, against a server it starts: without a token and with an operator's.
fuzz: install ## Schemathesis against a server it starts (FUZZ_EXAMPLES per operation)
	$(BIN)/python scripts/fuzz.py --max-examples $(FUZZ_EXAMPLES) $(ARGS)

loadtest: install ## the Locust rehearsal (flashsale loadtest; ARGS)
	$(BIN)/flashsale loadtest $(ARGS)

bench: install ## the purchase path beside a bare endpoint (loadtest.bench; ARGS)
	$(BIN)/python -m loadtest.bench $(ARGS)

venv: $(BIN)/python ## the virtual environment in .venv, without the packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when the project's dependencies (or their pins) change.
# uv (from PyPI, into the venv) fetches and unpacks in parallel: about 16 s on a clean machine where
# pip took 70; the same pins (constraints.txt), the same editable install. Bytecode is compiled here,
# as pip does: where PYTHONDONTWRITEBYTECODE is set (this machine), every process (each server a test
# starts) would otherwise compile every module it imports, every time.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[dev,loadtest]"
	$(BIN)/python -m compileall -q $(TYPED) tests scripts
	touch $@

install: $(STAMP) ## the project with its dev and loadtest extras into .venv (again when the pins change)

