# The commands the README documents. Each installs what it needs from the lock file.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test test-unit test-integration test-dags lint clean

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups
	touch $@

install: $(VENV)/.synced

demo: install
	$(PY) scripts/demo.py

test: install
	$(VENV)/bin/pytest -q

test-unit: install
	$(VENV)/bin/pytest -q tests/unit

test-integration: install
	$(VENV)/bin/pytest -q tests/integration

test-dags: install
	$(VENV)/bin/pytest -q tests/dags

lint: install
	$(VENV)/bin/ruff check etl contracts dags tests scripts
	$(VENV)/bin/mypy

clean:
	rm -rf .run data
