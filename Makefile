# The only entry points, for people and CI alike. `make run` and `make test` need nothing
# installed beforehand but Python 3.11+ (and, for the PostgreSQL half of the tests, root or
# an installed PostgreSQL 15: scripts/test-postgres.sh starts it).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PACKAGES := gateway connectors consent_ledger audit policies bench

.PHONY: install run test lint fmt bench demo lock clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install the gateway with its dev tools

run: $(STAMP)  ## Migrate and start the gateway on SQLite at http://127.0.0.1:8080
	$(BIN)/consent-gateway db upgrade
	$(BIN)/consent-gateway serve

test: $(STAMP)  ## Run the whole suite on SQLite and on PostgreSQL
	CGW_TEST_POSTGRES_URL="$${CGW_TEST_POSTGRES_URL:-$$(scripts/test-postgres.sh)}" $(BIN)/pytest -n auto

lint: $(STAMP)  ## ruff (format + rules), mypy --strict, import-linter contracts
	$(BIN)/ruff format --check $(PACKAGES) tests
	$(BIN)/ruff check $(PACKAGES) tests
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format $(PACKAGES) tests
	$(BIN)/ruff check --fix $(PACKAGES) tests

bench: $(STAMP)  ## Print ingest, consent, policy, audit and flag-pull figures (never asserts timing; flag pulls need wrk); CGW_BENCH_DATABASE_URL for PostgreSQL
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/consents.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/flags.py

demo: $(STAMP)  ## The whole co-responder program on a fresh SQLite in ./var/demo; leaves the gateway running
	$(BIN)/consent-gateway demo

lock: $(STAMP)  ## Re-pin requirements.lock after changing dependencies in pyproject.toml
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache *.egg-info
