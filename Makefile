# Riadex — `make dev` runs the local stack on http://localhost:8000, `make test` runs every check.
# Both set up what they need on a fresh machine: the virtualenv and its packages.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
export PYTHONPATH := $(CURDIR)/layers/core
export SAM_CLI_TELEMETRY := 0

.PHONY: help install dev demo deploy-web test lint typecheck unit integration e2e bench bench-peers tools build runtime-python sam-test validate clean system-deps \
	deploy-check template-tier

help:
	@echo "make dev    - run the local stack on http://localhost:8000 (PORT=... to change)"
	@echo "make demo   - synthetic CVs in a new session of a demo user (with make dev running)"
	@echo "make test   - ruff, mypy, import contracts, cfn-lint and every test suite"
	@echo "make bench  - measure, write bench/results.json and print a table"
	@echo "make load   - step up concurrent sessions on the local stack until it saturates (not in CI)"
	@echo "make bench-peers - the same workloads against Riadex and LangGraph's dev server"
	@echo "make build  - sam build (installs the SAM CLI into $(TOOLS)/ first)"
	@echo "make sam-test - sam local invoke/start-api, and the agent loop in start-lambda (root, podman; not in make test)"
	@echo "make deploy-check - cfn-lint, sam validate --lint, checkov (.checkov.yaml) and the template tier"

$(STAMP): pyproject.toml requirements.txt layers/core/requirements.txt layers/llm/requirements.txt \
		sandbox-image/requirements.txt sandbox-image/requirements-browser.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	# The package itself, editable, for the `riadex` CLI ($(BIN)/riadex); its dependencies are pinned above.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# The web client's packages (noVNC for the live browser view), from web/package-lock.json.
WEB_STAMP := web/node_modules/.riadex-stamp
$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd web && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.riadex-stamp; \
	else echo "web: npm is missing (apt-get install npm); the web client's live browser view needs noVNC"; fi

install: $(STAMP) $(WEB_STAMP)

dev: install
	$(BIN)/python -m riadex.entrypoints.local

# Synthetic CVs uploaded into a new session of a demo user, on the stack `make dev` runs (RIADEX_URL).
demo: install
	$(BIN)/python -m riadex.entrypoints.cli demo

# The web client to the stack's bucket and CloudFront (after `sam deploy`; STACK=riadex by default).
STACK ?= riadex
deploy-web: install
	$(BIN)/python web/deploy.py --stack $(STACK)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint template.yaml

typecheck: install
	$(BIN)/mypy

# The scenarios run with their AWS calls, tool-server calls and payloads recorded (RIADEX_CALL_RECORD);
# then the template tier (tests/template) holds that recording against template.yaml as deployed.
CALL_RECORD := $(CURDIR)/.call-record

test: system-deps lint typecheck
	rm -rf $(CALL_RECORD)
	RIADEX_CALL_RECORD=$(CALL_RECORD) $(BIN)/python -m pytest --ignore=tests/template
	RIADEX_CALL_RECORD=$(CALL_RECORD) $(BIN)/python -m pytest tests/template

# The template tier alone, on the recording of the last `make test` (recorded first when there is none).
template-tier: install system-deps
	@if [ -z "$$(ls -A $(CALL_RECORD) 2>/dev/null)" ]; then \
		echo "template-tier: no recording in $(CALL_RECORD); running the scenarios to record one"; \
		RIADEX_CALL_RECORD=$(CALL_RECORD) $(BIN)/python -m pytest -q --ignore=tests/template; \
	fi
	RIADEX_CALL_RECORD=$(CALL_RECORD) $(BIN)/python -m pytest -q tests/template

# docs/least-privilege.md from the recording the last `make test` left: rights granted vs used.
.PHONY: least-privilege
least-privilege: install
	$(BIN)/python -m tests.template.least_privilege $(CALL_RECORD) docs/least-privilege.md

unit integration e2e: install system-deps
	$(BIN)/python -m pytest tests/$@

bench: install
	$(BIN)/python -m bench

# Not in `make test`: many concurrent sessions on the local stack until it saturates (bench/load.py).
# LOAD_ARGS="--levels 10,25,50 --soak 600" to choose the levels and soak for 10 minutes.
load: install
	$(BIN)/python -m bench.load $(LOAD_ARGS)

# Riadex and LangGraph's dev server side by side (not in CI): LangGraph in a virtualenv of its own,
# pinned by bench/peers/requirements.txt.
LANGGRAPH := $(TOOLS)/langgraph/bin/langgraph
$(LANGGRAPH): bench/peers/requirements.txt
	$(PYTHON) -m venv $(TOOLS)/langgraph
	$(TOOLS)/langgraph/bin/python -m pip install -q --disable-pip-version-check -r bench/peers/requirements.txt
	@touch $@

bench-peers: install $(LANGGRAPH)
	$(BIN)/python -m bench.peers

# System packages the sandbox suites need: Chromium (browser), Xvfb + x11vnc (VNC), podman + runc +
# slirp4netns + debootstrap (image build and the docker backend; catatonit is podman's `init`),
# bubblewrap (process backend jail), iptables + iproute2 (the sandbox's egress rules; the network test's
# namespaces), curl (the network test).
# A no-op when all are present; as root it runs `apt-get update` once and installs what is missing.
# Without root or apt, it names what is missing and the suites that need it skip.
SYSTEM_CMDS := chromium:chromium Xvfb:xvfb x11vnc:x11vnc podman:podman runc:runc slirp4netns:slirp4netns \
	bwrap:bubblewrap debootstrap:debootstrap tini:tini newuidmap:uidmap fuse-overlayfs:fuse-overlayfs \
	catatonit:catatonit iptables-restore:iptables ip:iproute2 curl:curl npm:npm \
	pdftotext:poppler-utils
SYSTEM_PKGS := fonts-dejavu-core ca-certificates

system-deps:
	@missing=""; \
	for pair in $(SYSTEM_CMDS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	for pkg in $(SYSTEM_PKGS); do dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "system-deps: missing$$missing (install as root; the suites that need them skip)"; exit 0; \
	fi; \
	echo "system-deps: installing$$missing"; \
	apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && \
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
		$$missing >/dev/null || echo "system-deps: could not install$$missing; the suites that need them skip"

# The SAM CLI pins its own boto3, so it lives in a virtualenv of its own.
$(SAM):
	$(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/python -m pip install -q --disable-pip-version-check aws-sam-cli==1.170.0

tools: $(SAM)

# The Lambda runtime's Python (template.yaml's Runtime): sam build needs it as python$(RUNTIME) on PATH,
# and the layers' Makefiles compile their bytecode with it. RUNTIME_PYTHON=/path/to/python overrides;
# else the newest pyenv $(RUNTIME).x; else python$(RUNTIME) on PATH.
RUNTIME := $(shell sed -n 's/^ *Runtime: *python\([0-9.]*\) *$$/\1/p' template.yaml | head -n1)
RUNTIME_BIN := $(TOOLS)/runtime-bin
find_runtime_python = $(or $(RUNTIME_PYTHON),$(shell \
	root=$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}"); \
	for p in $$(ls -d "$$root"/versions/$(RUNTIME).*/bin/python$(RUNTIME) 2>/dev/null | sort -V -r) \
		$$(command -v python$(RUNTIME)); do \
		"$$p" -c 'import sys; assert sys.version_info[:2] == tuple(map(int, "$(RUNTIME)".split(".")))' \
			2>/dev/null && { echo "$$p"; break; }; \
	done))

runtime-python:
	@py="$(find_runtime_python)"; \
	if [ -z "$$py" ]; then \
		echo "make build: Python $(RUNTIME) (the Lambda runtime in template.yaml) was not found. Install it" \
			"(e.g. pyenv install $(RUNTIME)) or name it: make build RUNTIME_PYTHON=/path/to/python$(RUNTIME)" >&2; \
		exit 1; \
	fi; \
	mkdir -p $(RUNTIME_BIN) && ln -sfn "$$(command -v "$$py")" $(RUNTIME_BIN)/python$(RUNTIME) && echo "runtime Python: $$py"

# sam build, then the functions' bytecode (the layers compile theirs); the build is cached in .aws-sam/.
build: $(SAM) runtime-python
	PATH="$(CURDIR)/$(RUNTIME_BIN):$$PATH" RUNTIME_PYTHON="$(CURDIR)/$(RUNTIME_BIN)/python$(RUNTIME)" $(SAM) build
	@for d in .aws-sam/build/*Function; do \
		$(RUNTIME_BIN)/python$(RUNTIME) -m compileall -q --invalidation-mode unchecked-hash -s "$$d" -p /var/task "$$d" \
			|| exit 1; \
	done

# sam local against the built functions in Lambda's runtime: the stand-in base image under podman (root).
# Not part of `make test` (README: sam local).
sam-test: install
	RIADEX_SAM_TEST=1 $(BIN)/python -m pytest tests/sam -s -q -p no:cacheprovider

validate: $(SAM)
	$(SAM) validate --lint --region us-east-1

# checkov pins its own dependencies, so it lives in a virtualenv of its own too.
$(CHECKOV):
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install -q --disable-pip-version-check checkov==3.3.30

# Everything a reviewer would run before a deploy: every finding fixed or listed with its reason in
# .checkov.yaml (skip-check), then the template tier (rights, reach, limits).
deploy-check: install $(SAM) $(CHECKOV)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --config-file .checkov.yaml
	$(MAKE) --no-print-directory template-tier

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .mypy_cache .ruff_cache .pytest_cache
