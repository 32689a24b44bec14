# housing-handoff: one Makefile drives setup, the joint stack, the demo, tests and benchmarks.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
STAMP := $(VENV)/.setup-stamp
SETUP_INPUTS := constraints.txt requirements-dev.txt contracts/pyproject.toml infra/pyproject.toml \
	data-team/requirements.txt ml-team/requirements.txt
export SCIKIT_LEARN_DATA ?= $(abspath ../shared/data/scikit_learn_data)

.PHONY: help setup test
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with everything the stack and tests need (idempotent)

$(STAMP): $(SETUP_INPUTS)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@test -x $(PY) || $(UV) venv --quiet --python ">=3.11" $(VENV)
	$(UV) pip install --quiet --python $(PY) -c constraints.txt \
		-e "contracts[airflow,test]" -e infra \
		-r data-team/requirements.txt -r ml-team/requirements.txt -r requirements-dev.txt \
		"apache-airflow==3.3.2"
	@touch $(STAMP)

test: setup ## run every test (contracts, both teams, infra, end to end)
	cd contracts && ../$(PY) -m pytest -q
