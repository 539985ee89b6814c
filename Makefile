# Developer entry points. `make test` is what CI runs (.ci/run).
#
#   make setup       system packages, .venv and Kafka jars (deploy/setup.sh; root for apt)
#   make demo        the demo, which needs no services (only .venv)
#   make stack-up    start Kafka and Prometheus on 127.0.0.1 (state in .stack/)
#   make stack-down  stop them and delete their data
#   make test        setup, stack up, pytest, stack down (always), keeping pytest's exit code
#                    (extra pytest options: make test PYTEST_ARGS='-k kafka -x')
#   make lint        ruff check ., mypy and the import contracts (lint-imports)
#   make lock        pin the installed dependencies in deploy/requirements.lock (pip freeze)
#   make audit       lock, then pip-audit them into deploy/pip-audit.txt (fails on a known
#                    vulnerability; an unreachable vulnerability service is reported, not fatal)

VENV   := .venv
PYTHON := $(VENV)/bin/python
STACK  := $(PYTHON) -m midstream.stack
PYTEST_ARGS ?=

.PHONY: help setup venv demo stack-up stack-down stack-status test lint lock audit

help:
	@sed -n '3,12s/^#   //p' Makefile

setup:
	bash deploy/setup.sh

venv:
	bash deploy/setup.sh --python-only

demo: venv
	$(VENV)/bin/midstream demo

stack-up: setup
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

# A stack that was already running before `make test` is reused and left running;
# one started here is always stopped, whatever pytest returns.
test: setup audit
	@if $(STACK) status >/dev/null 2>&1; then owned=0; else owned=1; fi; \
	status=0; \
	$(STACK) up && $(PYTHON) -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ $$owned = 1 ]; then $(STACK) down || true; fi; \
	exit $$status

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Everything installed in .venv but the project itself, pinned.
lock: venv
	$(VENV)/bin/pip freeze --exclude-editable --exclude midstream \
		| grep -vE '^(#|-e )| @ file:' > deploy/requirements.lock

audit: lock
	$(PYTHON) deploy/audit.py
