# Two commands set everything up on a fresh machine: `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv is bootstrapped into a project-local folder so a fresh machine needs nothing but Python.
# Pinned: the lock file format and `uv sync --frozen` behaviour are what CI relies on.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
VENV_PY := $(VENV)/bin/python
# The operator CLI (airflow_ecs_cli/): the local stack's targets below and the deploy targets in make/.
AIRFLOW_ECS := $(VENV)/bin/airflow-ecs

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null || { \
	  echo "error: $(PYTHON) is missing or not Python 3.11 or 3.12 (pyproject.toml's requires-python): install one, or run make with PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -m venv $(TOOLS) >/dev/null 2>&1 || { rm -rf $(TOOLS); \
	  echo "error: '$(PYTHON) -m venv' does not work: on Debian or Ubuntu install it with 'sudo apt-get install python3-venv'"; exit 1; }
	@$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: uv does not write .pyc files, and where PYTHONDONTWRITEBYTECODE is set (CI,
# this machine) Python never does either, so every process and every Airflow task would compile
# Airflow from source again: twice the start-up CPU (docs/decisions/0005-bytecode-and-worker-preload.md).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock Makefile
	@$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

install: $(VENV)/.synced ## install every Python dependency from the lock file

lock: $(UV) ## re-resolve uv.lock after editing pyproject.toml
	$(UV) lock

up: install ## start the local stack (PostgreSQL, SQS, all Airflow components)
	@$(AIRFLOW_ECS) local up

down: install ## stop the local stack (running tasks finish first)
	@$(AIRFLOW_ECS) local down

status: install ## show each local component and its health
	@$(AIRFLOW_ECS) local status

logs: install ## follow the local stack's logs (COMPONENT=scheduler for one)
	@$(AIRFLOW_ECS) local logs $(COMPONENT)

run: install ## run an Airflow CLI command against the local stack (CMD='dags list')
	@test -n "$(CMD)" || { echo "error: CMD is not set: the Airflow command to run, e.g. make run CMD='dags list'"; exit 2; }
	@$(AIRFLOW_ECS) local run -- $(CMD)

test: install cdk-cli lint ## install (Python packages, the pinned CDK CLI) and run the whole test suite, after the lint and type gate
	@$(VENV_PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-faults: install ## every fault scenario on a local stack with its own timeouts, and the recovery figures (about 5 min)
	@FAULT_TESTS_PROFILE=measured $(VENV_PY) -m pytest tests/integration/test_faults.py $(PYTEST_ARGS)

test-unit: install ## the fast tests only: no local stack, no CDK synth, no containers (about 1.5 min)
	@$(VENV_PY) -m pytest tests/unit $(PYTEST_ARGS)

# The configuration of both tools is in pyproject.toml.
lint: install ## ruff (lint and format check) and mypy over the code
	@$(VENV)/bin/ruff check --quiet . && $(VENV)/bin/ruff format --check --quiet . && echo "ruff: clean"
	@$(VENV)/bin/mypy

format: install ## apply ruff's formatting and safe fixes
	@$(VENV)/bin/ruff format --quiet . && $(VENV)/bin/ruff check --fix --quiet .

docs: install ## regenerate docs/runtime-contract.md, the settings table of infrastructure/README.md and the architecture diagrams (synthesizes dev and prod)
	@$(VENV_PY) scripts/generate_docs.py

benchmark: install ## measure trigger-to-success latency on the local stack
	@$(VENV_PY) scripts/benchmark_trigger_latency.py $(BENCHMARK_ARGS)

benchmark-baseline: install ## our stack against plain tuned Airflow, side by side, alternating (about 15 min)
	@$(VENV_PY) scripts/benchmark_trigger_latency.py --baseline $(BENCHMARK_ARGS)

# Targets of the infrastructure and container images live beside their own concern.
-include make/*.mk

.PHONY: help install lock up down status logs run test test-faults test-unit lint format docs benchmark benchmark-baseline
