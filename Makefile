# The two set-up commands: `make run` and `make test`. `make venv` builds .venv alone.
# `make check` is the quick loop: ruff, the import contracts and the fast tests.
# `make run` installs only what running needs; `make test` adds the test extras (pytest, Playwright, ...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test check lint test-sqlite test-postgres bench soak clean

venv: $(RUN_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(RUN_STAMP) $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/bansou db upgrade
	@echo "bansou: web chat at http://$(HOST):$(PORT)"
	$(BIN)/bansou serve --host $(HOST) --port $(PORT)

test: $(TEST_STAMP)
	scripts/test

check: $(TEST_STAMP)
	scripts/test check

lint: $(TEST_STAMP)
	scripts/test lint

test-sqlite: $(TEST_STAMP)
	scripts/test sqlite

test-postgres: $(TEST_STAMP)
	scripts/test postgres

bench: $(TEST_STAMP)
	scripts/bench

# 200 concurrent conversations for 60 s against a live server (too slow for CI; the suite runs 50 x 10 s).
soak: $(TEST_STAMP)
	BANSOU_SOAK_CONVERSATIONS=200 BANSOU_SOAK_SECONDS=60 BANSOU_SOAK_RSS_GROWTH_MB=60 \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_reliability_soak.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache bansou.db bansou.db-wal bansou.db-shm
