# Two commands matter: `make demo` and `make test`. Both create the environment first.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: setup demo test dev lint bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(STAMP)  ## create or update the environment from the lock file

demo: setup  ## materialize a new version of the demo dataset end to end
	@mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/synth demo

test: setup  ## run the whole test suite
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

dev: setup  ## the Dagster UI, with the nightly schedule
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(TOOLS)
