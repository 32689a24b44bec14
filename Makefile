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
	cd data-team && ../$(PY) -m pytest -q
	cd infra && ../$(PY) -m pytest -q

.PHONY: wheels
wheels: ## build the contracts wheel into each team's Docker build context (.contracts-dist/)
	$(UV) build --wheel contracts -o data-team/.contracts-dist
	$(UV) build --wheel contracts -o ml-team/.contracts-dist

# --- the joint stack (housing_stack.cli; ports, buckets and identities in .env.example) ---
# native unless a Docker engine answers; force one with STACK=native or STACK=docker
STACK ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo native)
STACK_CLI := $(PY) -m housing_stack

.PHONY: up down status logs env
up: setup ## start the joint stack: S3, MLflow, both teams' Airflow (STACK=native|docker)
	@if [ "$(STACK)" = docker ]; then $(MAKE) --no-print-directory wheels; fi
	@$(STACK_CLI) up --flavour $(STACK)

down: setup ## stop exactly what `make up` started
	@$(STACK_CLI) down --flavour $(STACK)

status: setup ## each component of the stack: pid, URL, healthy?
	@$(STACK_CLI) status --flavour $(STACK)

logs: setup ## tail the stack's logs (COMPONENT=s3|mlflow|airflow-data|airflow-ml, FOLLOW=1)
	@$(STACK_CLI) logs --flavour $(STACK) $(if $(FOLLOW),--follow) $(COMPONENT)

env: setup ## print export lines for the running stack: eval "$(make -s env)"
	@$(STACK_CLI) env
