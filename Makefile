# The commands the README documents. Each installs what it needs from the lock file.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: bench-ducklake postgres-deps prometheus-deps bench-prometheus install demo test test-unit test-integration test-dags lint clean bench bench-rating bench-small-files bench-gateway up down test-e2e browser-deps

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups
	touch $@

install: $(VENV)/.synced

demo: install
	$(PY) scripts/demo.py

test: lint browser-deps prometheus-deps postgres-deps redis-deps
	$(VENV)/bin/pytest -q

test-unit: install
	$(VENV)/bin/pytest -q tests/unit

test-integration: install postgres-deps
	$(VENV)/bin/pytest -q tests/integration

test-dags: install
	$(VENV)/bin/pytest -q tests/dags

# The real stack (scheduler + API server + local S3), driven over REST v2 and in headless Chromium.
test-e2e: install browser-deps postgres-deps redis-deps
	$(VENV)/bin/pytest -q tests/e2e tests/browser

# Embedded stack for clicking: Airflow UI http://127.0.0.1:8080 (admin / admin), local S3, samples.
up: install
	$(PY) scripts/stack.py up

down:
	$(PY) scripts/stack.py down

# Chromium from apt (when absent) and playwright-core from the committed package-lock.json.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps: node_modules/.installed
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; }

# Debian's Prometheus (when absent): the remote-write tests scrape and send with the real thing.
prometheus-deps:
	@command -v prometheus >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends prometheus; }

# Debian's Postgres (when absent): the DuckLake tests start a throwaway cluster as its catalog.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends postgresql; }

# Debian's Redis (when absent): the CeleryExecutor end-to-end test starts one as its broker.
.PHONY: redis-deps
redis-deps:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends redis-server; }

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# make bench SIZES=1M FORMATS=csv,ndjson [BENCH_ARGS="--profile --no-incremental"]
SIZES ?= 1M,10M
FORMATS ?= csv,ndjson,focus
bench: install
	$(PY) -m bench.run --sizes $(SIZES) --formats $(FORMATS) $(BENCH_ARGS)

# meterhouse rollup of one month of N events (example rate card) beside a plain-SQL rating of them.
# make bench-rating RATING_ARGS="--events 50M --no-baseline"
RATING_ARGS ?= --events 3M
bench-rating: install
	$(PY) -m bench.rating $(RATING_ARGS)

# 10,000 small files through usage_ingest on its own embedded stack (free ports, bench/.cache/).
# make bench-small-files SMALL_FILES_ARGS="--files 2000 --format csv"
bench-small-files: install
	$(PY) -m bench.small_files $(SMALL_FILES_ARGS)

# The ingest gateway under wrk (batches of 500 records) beside its floor (read body + PUT).
# make bench-gateway GATEWAY_BENCH_ARGS="--duration 5 --connections 8 --workers 2"
bench-gateway: install
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }
	$(PY) -m bench.gateway $(GATEWAY_BENCH_ARGS)

# DuckLake (Postgres catalog + Parquet) with 1, 2, 3 concurrent writers beside the DuckDB file.
# make bench-ducklake DUCKLAKE_ARGS="--events 1M --files 100 --writers 1,2,3 --s3"
# The measured run (docs/ducklake.md, ~7 min): DUCKLAKE_ARGS="--events 10M --files 20 --profile"
DUCKLAKE_ARGS ?= --events 300k --files 60
bench-ducklake: install postgres-deps
	$(PY) -m bench.ducklake $(DUCKLAKE_ARGS)

# Remote write: decode + land samples/s (2,000-sample requests) and samples -> usage beside
# plain DuckDB SQL over the landed files. make bench-prometheus PROMETHEUS_BENCH_ARGS="--samples 10M"
PROMETHEUS_BENCH_ARGS ?= --samples 2M
bench-prometheus: install
	$(PY) -m bench.prometheus $(PROMETHEUS_BENCH_ARGS)

# ruff, mypy (strict on etl/ and contracts/), import-linter (the layers in pyproject.toml) and the
# house rules import-linter cannot express (scripts/check_structure.py). `make test` runs it first.
lint: install
	$(VENV)/bin/ruff check etl contracts dags plugins tests scripts bench sdk/python
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo
	$(PY) scripts/check_structure.py

clean:
	rm -rf .run data
