# Riadex — `make dev` runs the local stack on http://localhost:8000, `make test` runs every check.
# Both set up what they need on a fresh machine: the virtualenv and its packages.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
export PYTHONPATH := $(CURDIR)/layers/core
export SAM_CLI_TELEMETRY := 0

.PHONY: help install dev test lint typecheck unit integration e2e bench tools build validate clean

help:
	@echo "make dev    - run the local stack on http://localhost:8000 (PORT=... to change)"
	@echo "make test   - ruff, mypy, import contracts, cfn-lint and every test suite"
	@echo "make bench  - measure, write bench/results.json and print a table"
	@echo "make build  - sam build (installs the SAM CLI into $(TOOLS)/ first)"

$(STAMP): requirements.txt layers/core/requirements.txt layers/llm/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(STAMP)

dev: install
	$(BIN)/python -m riadex.entrypoints.local

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint template.yaml

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

unit integration e2e: install
	$(BIN)/python -m pytest tests/$@

bench: install
	$(BIN)/python -m bench

# The SAM CLI pins its own boto3, so it lives in a virtualenv of its own.
$(SAM):
	$(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/python -m pip install -q --disable-pip-version-check aws-sam-cli==1.170.0

tools: $(SAM)

# sam build needs the Lambda runtime's Python (3.12) on PATH; pyenv provides it on this machine.
build: $(SAM)
	PYENV_VERSION=3.12.1:3.11.7 $(SAM) build

validate: $(SAM)
	$(SAM) validate --lint --region us-east-1

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .mypy_cache .ruff_cache .pytest_cache
