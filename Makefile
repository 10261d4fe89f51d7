# KIP Sense: `make run` runs the whole platform with simulators; `make test` runs lint, types and the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup system-deps lint types pytest stack-test clean-stack bench deploy-test lock

run: setup
	$(BIN)/kipsense run

test: setup lint types stack-test pytest

setup: system-deps $(STAMP)

system-deps:
	@bash deploy/local/install-system-deps.sh
	@bash deploy/local/install-browser.sh

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# The pinned versions the image (requirements.lock) and CI share; the project itself without resolving again.
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	@# The Tennessee Eastman benchmark data ship inside this wheel; its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps "bibmon==1.2.0"
	@touch $(STAMP)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

stack-test:
	$(BIN)/kipsense stack up --name test

pytest:
	$(BIN)/pytest

# Every benchmark, in the order bench/RESULTS.md reports them; each writes bench/results/<name>.json.
bench: setup
	$(BIN)/python bench/detectors.py
	$(BIN)/python bench/nab.py
	$(BIN)/python bench/tep.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/rollups.py
	$(BIN)/python bench/simulators.py --store
	$(BIN)/python bench/api.py
	$(BIN)/python bench/api_streams.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/health_skew.py --days 1
	$(BIN)/python bench/quarantine.py
	$(BIN)/python bench/cells_import.py
	$(BIN)/python bench/cells.py
	$(BIN)/python bench/ingest_redelivery.py
	$(BIN)/python bench/notifications.py

clean-stack:
	-$(BIN)/kipsense stack down --name main
	-$(BIN)/kipsense stack down --name test

# The compose stack built and run for real in containers (podman): see deploy/test/run.sh.
deploy-test: setup
	bash deploy/test/run.sh

# Re-pin the Python dependencies after a change to pyproject.toml (image: requirements.lock; CI: -dev).
lock:
	bash deploy/lock.sh
