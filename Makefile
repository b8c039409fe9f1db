# The README's commands. Each target bootstraps .venv (Python 3.11) the first time.
#   make demo   deploy the local environment (the deploy job) on the synthetic inputs, generated
#               if missing (DEMO_ARGS=--force reprocesses every region)
#   make test   the whole test suite, one worker per core and one more (TEST_WORKERS=1 for one; PYTEST_ARGS=...)
#   make test-fast  the unit tests only: not marked integration or ui (under a minute)
#   make ui     the Dagster UI (dg dev) on 127.0.0.1:$(PORT) with the demo's run history
#   make preview  map of the outputs on 127.0.0.1:$(PREVIEW_PORT) (PREVIEW_ENV=local, PREVIEW_ARGS=...)
#   make lint   ruff check, ruff format --check and the import layers (lint-imports)
#   make bench-tiles  the building archive at 0.5 % of CONUS: one run vs shards (~20 min)
#   make bench-conus  every roll-up at 0.25 % and 1 % of CONUS, 1 and 2 workers (about an hour)

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PORT ?= 3000
PREVIEW_PORT ?= 8050
PREVIEW_ENV ?= local
PREVIEW_ARGS ?=
DAGSTER_HOME ?= $(CURDIR)/.dagster
DEMO_ARGS ?=
PYTEST_ARGS ?=
# One worker more than cores: many integration tests wait on subprocesses, servers and time-outs.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.PHONY: demo test test-fast ui preview lint bench-tiles bench-conus

# Created only when missing, so an existing environment (offline machines) is used as it is.
$(VENV)/bin/dagster:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]'

$(DAGSTER_HOME)/dagster.yaml: instance/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp instance/dagster.yaml $@

demo: $(VENV)/bin/dagster $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(VENV)/bin/python -m ocr_assets.demo $(DEMO_ARGS)

# An older .venv without pytest-xdist runs the suite in one process (and says so).
test: $(VENV)/bin/dagster
	@if $(VENV)/bin/python -c "import xdist" 2>/dev/null; then \
	  workers="-n $(TEST_WORKERS) --dist loadfile"; \
	else echo "note: no pytest-xdist in $(VENV) (pip install -e '.[dev]'): one process"; fi; \
	$(VENV)/bin/pytest $$workers $(PYTEST_ARGS)

test-fast: $(VENV)/bin/dagster
	$(VENV)/bin/pytest -m "not integration and not ui" $(PYTEST_ARGS)

ui: $(VENV)/bin/dagster $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(VENV)/bin/dg dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

preview: $(VENV)/bin/dagster
	$(VENV)/bin/python -m ocr_assets.cli preview --environment $(PREVIEW_ENV) --port $(PREVIEW_PORT) $(PREVIEW_ARGS)

lint: $(VENV)/bin/dagster
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench-tiles: $(VENV)/bin/dagster
	$(VENV)/bin/python -m benchmarks.bench_tiles --fraction 0.005

bench-conus: $(VENV)/bin/dagster
	$(VENV)/bin/python -m benchmarks.bench_conus --fraction 0.0025 --fraction 0.01
