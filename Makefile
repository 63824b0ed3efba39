# The two commands a newcomer needs: `make run` and `make test`. Each creates the
# environment (.venv, from requirements.lock) when it is missing or out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
UV_VERSION := 0.13.9

.PHONY: run test test-bi test-scaleout check bench bundle seeds lock env clean airflow airflow-stop

run: $(STAMP)  ## whole pipeline on the embedded data, through Airflow; prints where the warehouse is
	$(BIN)/python -m ingest run

# Tests run in parallel (pytest-xdist): the embedded warehouse is built once per run and shared. Three
# workers on two cores: while one waits (a subprocess, a lock), the others compute (make check 2:40 -> 2:13).
WORKERS ?= 3
CHECK_MARKERS := not airflow and not postgres and not browser and not slow and not bi and not scaleout
test: $(STAMP)  ## every test but Superset's (real HTTP server, DuckDB, Airflow scheduler, PostgreSQL, Chromium)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup -m "not bi and not scaleout"

test-bi: $(STAMP)  ## the Superset dashboard test (installs Superset into .cache/ the first time); .ci/run runs it too
	$(BIN)/python -m pytest -m bi

test-scaleout: $(STAMP)  ## the same dbt models built on a throwaway PostgreSQL, every mart compared with DuckDB's; .ci/run runs it too
	$(BIN)/python -m pytest -m scaleout

check: $(STAMP)  ## the fast inner loop: every test but the heavy groups (airflow, postgres, browser, slow, bi, scaleout)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup -m "$(CHECK_MARKERS)"

airflow: $(STAMP)  ## the real Airflow UI on http://127.0.0.1:8080: api-server, scheduler, dag-processor, triggerer
	$(BIN)/python -m ingest airflow

airflow-stop: $(STAMP)  ## stop what `make airflow` started
	$(BIN)/python -m ingest airflow --stop

SCALE ?=
bench: $(STAMP)  ## benchmarks (not tests): every step, make run cold/warm, scale 10 and 100; SCALE=N: the scale harness alone
	$(BIN)/python bench/$(if $(SCALE),scale.py --scale $(SCALE),bench.py)

bundle: $(STAMP)  ## regenerate data/bundle from the publishers' original files
	$(BIN)/python -m ingest bundle

seeds: $(STAMP)  ## rewrite the sub-indicator seeds (codes and crosswalk) from the declared originals; review the diff
	$(BIN)/python scripts/make_subindicator_seeds.py

lock:  ## re-resolve requirements.in into requirements.lock
	$(BIN)/uv pip compile requirements.in -o requirements.lock --python-version 3.11

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the locked environment into $(VENV) (first time: about a minute)..."
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	# --compile-bytecode: every process (dbt, Airflow's task runners, govwh) imports from .pyc even where
	# PYTHONDONTWRITEBYTECODE is set (as on CI here): dbt + Airflow's import 9 s -> 5 s a process
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:  ## remove the built warehouse (raw files included) and caches; keeps .venv
	rm -rf warehouse dbt_project/target dbt_project/logs .pytest_cache
