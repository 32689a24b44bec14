# housing-handoff: one Makefile drives setup, the joint stack, the demo, tests and benchmarks.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
STAMP := $(VENV)/.setup-stamp
SETUP_INPUTS := constraints.txt requirements-dev.txt contracts/pyproject.toml infra/pyproject.toml \
	infra/testkit/pyproject.toml data-team/requirements.txt ml-team/requirements.txt
export SCIKIT_LEARN_DATA ?= $(abspath ../shared/data/scikit_learn_data)
# Compile every installed module to bytecode at install time. Python only reads .pyc files it finds, and
# with PYTHONDONTWRITEBYTECODE set (as on these machines) it never writes them: each Airflow task process
# would then compile Airflow, pandas, scikit-learn and MLflow from source again (~3x slower imports).
export UV_COMPILE_BYTECODE := 1

.PHONY: help setup test
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with everything the stack, the demo and the contracts/infra/e2e tests need (idempotent)

$(STAMP): $(SETUP_INPUTS)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@test -x $(PY) || $(UV) venv --quiet --python ">=3.11" $(VENV)
	$(UV) pip install --quiet --python $(PY) -c constraints.txt \
		-e "contracts[airflow,test]" -e "infra[mlflow-server]" -e infra/testkit \
		-r data-team/requirements.txt -r ml-team/requirements.txt -r requirements-dev.txt \
		"apache-airflow==3.3.2"
	@touch $(STAMP)

# Each project's tests run in their own pytest process from its folder (both teams have `include/`).
PYTEST := ../$(PY) -m pytest -q
TEST_TARGETS := test-contracts test-data-team test-ml-team test-infra test-e2e test-containers
.PHONY: test $(TEST_TARGETS) fetch-data

# Each team's tests run in a venv of its own (.venvs/<team>), built from what its Astro image holds
# (Airflow as Astro Runtime 3.3 ships it, the team's requirements.txt, the contracts wheel with its
# [airflow] extra, as the Dockerfile installs it) plus the team's requirements-test.txt: a dependency of
# the other team, or one missing from requirements.txt, fails there as it would in the image. contracts,
# infra and e2e share .venv. The stamp makes a re-run with nothing changed instant.
TEAMS := data-team ml-team
TEAM_VENVS := .venvs
TEAM_PYTEST = ../$(TEAM_VENVS)/$(1)/bin/python -m pytest -q
AIRFLOW_PIN := $(shell grep -m1 '^apache-airflow==' constraints.txt)
CONTRACTS_INPUTS := contracts/pyproject.toml contracts/README.md \
	$(shell find contracts/src -type f -not -path '*/__pycache__/*' 2>/dev/null)

$(TEAM_VENVS)/%/.test-stamp: constraints.txt %/requirements.txt %/requirements-test.txt $(CONTRACTS_INPUTS) \
		infra/pyproject.toml infra/testkit/pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@test -x $(TEAM_VENVS)/$*/bin/python || $(UV) venv --quiet --python ">=3.11" $(TEAM_VENVS)/$*
	@rm -rf $(TEAM_VENVS)/$*/contracts-dist
	$(UV) build --quiet --wheel contracts -o $(TEAM_VENVS)/$*/contracts-dist
	cd $* && $(UV) pip install --quiet --python ../$(TEAM_VENVS)/$*/bin/python -c ../constraints.txt \
		--reinstall-package housing-contracts "$(AIRFLOW_PIN)" -r requirements.txt \
		"$$(ls ../$(TEAM_VENVS)/$*/contracts-dist/housing_contracts-*.whl)[airflow]" -r requirements-test.txt
	@touch $@

test: setup ## run every test: contracts, both teams, infra (static + stack), end to end
	@failed=""; for t in $(TEST_TARGETS); do \
		echo "=== make $$t"; $(MAKE) --no-print-directory $$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

# datacontract-cli, a test tool of the ODCS export (contracts/tests/test_odcs.py), in a venv of its own:
# its pins need not agree with Airflow's. Rebuilt only when its pinned requirements change.
DATACONTRACT_STAMP := $(TEAM_VENVS)/datacontract/.install-stamp
$(DATACONTRACT_STAMP): contracts/requirements-odcs-test.txt
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@test -x $(TEAM_VENVS)/datacontract/bin/python || $(UV) venv --quiet --python ">=3.11" $(TEAM_VENVS)/datacontract
	$(UV) pip install --quiet --python $(TEAM_VENVS)/datacontract/bin/python -r contracts/requirements-odcs-test.txt
	@# datacontract-cli loads the DuckDB extensions bundled for S3 from <name>.duckdb_extension.gz, but the
	@# duckdb-extension-* wheels ship them uncompressed: without the .gz it tries to download them.
	@for f in $(TEAM_VENVS)/datacontract/lib/python*/site-packages/duckdb_extension_*/extensions/*/*.duckdb_extension; do \
		gzip -1 --keep --force "$$f"; done
	@touch $@

test-contracts: setup $(DATACONTRACT_STAMP) ## the contract package: schema, snapshots, compatibility, CLI, test kit, trigger, ODCS export
	cd contracts && $(PYTEST)

test-data-team: $(TEAM_VENVS)/data-team/.test-stamp ## the producer project, in its own venv: DAG integrity, extract/clean rules, dag.test() on real S3
	cd data-team && $(call TEAM_PYTEST,data-team)

test-ml-team: $(TEAM_VENVS)/ml-team/.test-stamp ## the consumer project, in its own venv: DAG integrity, training, MLflow registry, dag.test()
	cd ml-team && $(call TEAM_PYTEST,ml-team)

test-infra: setup ## the stack: fixtures, identities, docker-compose static checks; the test kit's DAG-integrity check
	cd infra && $(PYTEST) --ignore=tests/e2e --ignore=tests/containers tests testkit/tests

test-e2e: setup ## the whole flow on a native stack started on free ports in a temp dir
	cd infra && $(PYTEST) tests/e2e

# After `make install-servers` (Podman, runc, podman-compose). The images are built first (cached).
test-containers: images ## the compose stack on Podman: one handoff end to end, then nothing left; each team's DAG tests inside its image
	cd infra && $(PYTEST) tests/containers
	@failed=""; for team in $(TEAMS); do \
		echo "=== $$team: tests/dags inside its image"; \
		$(STACK_CLI) astro-pytest $$team || failed="$$failed $$team"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED inside the image:$$failed"; exit 1; fi

.PHONY: test-faults
test-faults: setup $(foreach team,$(TEAMS),$(TEAM_VENVS)/$(team)/.test-stamp) ## only the reliability & security cases (bad inputs, faults, permissions, secrets), with their table
	@failed=""; for project in contracts $(TEAMS) infra; do \
		echo "=== $$project: pytest -m reliability"; \
		if [ -x $(TEAM_VENVS)/$$project/bin/python ]; then pytest="../$(TEAM_VENVS)/$$project/bin/python -m pytest -q"; \
		else pytest="$(PYTEST)"; fi; \
		(cd $$project && $$pytest -m reliability) || failed="$$failed $$project"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

fetch-data: setup ## make sure the dataset is in SCIKIT_LEARN_DATA (downloads only where a network allows)
	@$(PY) -c "from sklearn.datasets import fetch_california_housing as f; print('dataset rows:', f().data.shape[0])"

.PHONY: wheels
wheels: ## build the contracts wheel into each team's Docker build context (.contracts-dist/)
	$(UV) build --quiet --wheel contracts -o data-team/.contracts-dist
	$(UV) build --quiet --wheel contracts -o ml-team/.contracts-dist

# --- the joint stack (housing_stack.cli; ports, buckets and identities in .env.example) ---
# STACK=native|docker: `up` picks docker when a Docker engine answers, else native, and records it under
# .local/; down/status/logs act on what `up` started unless STACK is given.
# PROFILE=embedded (default: each Airflow is `airflow standalone` on SQLite) or production (PostgreSQL,
# CeleryExecutor with Redis, one process per component; native only; `make install-servers` first).
STACK ?=
PROFILE ?= embedded
STACK_CLI := $(PY) -m housing_stack --profile $(PROFILE)
GIVEN_FLAVOUR = $(if $(STACK),--flavour $(STACK))
UP_FLAVOUR = $(or $(STACK),$(if $(filter production,$(PROFILE)),native,$(shell docker info >/dev/null 2>&1 && echo docker || echo native)))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up down status logs env install-servers
up: setup ## start the joint stack: S3, MLflow, both teams' Airflow (STACK=native|docker, PROFILE=embedded|production)
	@if [ "$(UP_FLAVOUR)" = docker ]; then $(MAKE) --no-print-directory wheels; fi
	@$(STACK_CLI) up --flavour $(UP_FLAVOUR)

down: setup ## stop exactly what `make up` started (PROFILE as given to up; KEEP_VOLUMES=1 keeps the docker flavour's volumes)
	@$(STACK_CLI) down $(GIVEN_FLAVOUR) $(if $(KEEP_VOLUMES),--keep-volumes)

status: setup ## each component: pid, URL, healthy?; each deployment: executor, metadata DB, live workers/triggerers
	@$(STACK_CLI) status $(GIVEN_FLAVOUR)

logs: setup ## tail the stack's logs (COMPONENT=s3|mlflow|airflow-data|airflow-ml|<any component or prefix>, FOLLOW=1)
	@$(STACK_CLI) logs $(GIVEN_FLAVOUR) $(if $(FOLLOW),--follow) $(COMPONENT)

env: setup ## print export lines for the running stack: eval "$(make -s env)"
	@$(STACK_CLI) env

# package:command pairs; apt-get runs only when a command is missing, and installs only those packages.
# podman, runc and debootstrap run the container flavour where no Docker engine answers (infra/containers/).
SYSTEM_PACKAGES := redis-server:redis-server chromium:chromium chromium-driver:chromedriver \
	podman:podman runc:runc debootstrap:debootstrap
# podman-compose runs infra/docker-compose.yml on Podman (PyPI's 1.6.0: Debian 12's 1.0.3 is older)
PODMAN_COMPOSE := podman-compose==1.6.0
install-servers: setup ## what the tests need beyond .venv, each when missing: redis-server, chromium + chromium-driver, podman + runc + debootstrap (Debian), podman-compose (into .venv)
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		package=$${pair%%:*}; command=$${pair##*:}; \
		if PATH="$$PATH:/usr/sbin:/sbin" command -v $$command >/dev/null 2>&1; then \
			echo "$$package: $$(PATH="$$PATH:/usr/sbin:/sbin" command -v $$command)"; \
		else missing="$$missing $$package"; fi; \
	done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; fi
	@$(VENV)/bin/podman-compose --version 2>/dev/null | grep -q "podman-compose version $(PODMAN_COMPOSE:podman-compose==%=%)" \
		|| $(UV) pip install --quiet --python $(PY) "$(PODMAN_COMPOSE)"
	@echo "podman-compose: $(VENV)/bin/podman-compose"

# The container flavour's images on Podman (infra/containers/, infra/images/): a local stand-in for each
# image the compose file and the team Dockerfiles pull, then the project's images from their Dockerfiles.
export CONTAINERS_CONF := $(abspath infra/containers/containers.conf)
.PHONY: images
images: setup wheels ## build the container flavour's images on Podman (bases rebuilt only when an input changes)
	@$(STACK_CLI) images

# Each team alone on Podman, as `astro dev start` / `astro dev pytest` run it (TEAM=data-team|ml-team).
TEAM ?= data-team
.PHONY: astro-dev astro-pytest astro-down
astro-dev: setup wheels ## one team alone: its image, its own metadata DB, airflow_settings.yaml loaded, import errors checked (TEAM=data-team|ml-team)
	@$(STACK_CLI) astro-dev $(TEAM)

astro-pytest: setup wheels ## the team's DAG tests (tests/dags) inside its own image, as `astro dev pytest` runs them (TEAM=...)
	@$(STACK_CLI) astro-pytest $(TEAM)

astro-down: setup ## remove what `make astro-dev` started (TEAM=...)
	@$(STACK_CLI) astro-down $(TEAM)

.PHONY: demo
demo: setup ## the whole flow on the real dataset: up, producer → contract → consumer, summary (STACK=native|docker, PROFILE=embedded|production)
	@$(MAKE) --no-print-directory up STACK=$(or $(STACK),native) PROFILE=$(PROFILE)
	@$(PY) -m housing_stack.demo --profile $(PROFILE)

.PHONY: bench
bench: setup ## measure against floors: validation, publish/read, event latency, history, end to end (+2M and 10M rows), model (~22 min)
	$(PY) -m bench

# --- a third (fourth, ...) consuming team, generated from infra/templates/consumer-team with copier ---
# TEAM=<name> [DEST=<folder>] [MAJOR=<live major>] [MAX_LAG_HOURS=6] [ALERT_SCHEDULE="*/30 * * * *"] [UPDATE=1]
.PHONY: new-consumer
new-consumer: setup ## generate a consuming team's Astro project (TEAM=..., DEST=.local/teams/<team>) and register it with the stack (UPDATE=1: copier update)
	@test -n "$(TEAM)" || { echo "error: TEAM=<name> is required, e.g. make new-consumer TEAM=bi-team" >&2; exit 2; }
	@$(PY) -m housing_stack new-consumer "$(TEAM)" $(if $(DEST),--dest "$(DEST)") $(if $(MAJOR),--major $(MAJOR)) \
		$(if $(MAX_LAG_HOURS),--max-lag-hours $(MAX_LAG_HOURS)) $(if $(ALERT_SCHEDULE),--alert-schedule "$(ALERT_SCHEDULE)") \
		$(if $(UPDATE),--update)
