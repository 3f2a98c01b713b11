# The README's commands. Each one prepares everything it needs: virtualenv, dependencies,
# PostgreSQL and Redis (see server/devstack.py for the order in which they are found or started).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pages' npm packages (server/pages/package-lock.json): tsc, openapi-typescript, MediaPipe.
NPM_STAMP := server/pages/node_modules/.installed
WITH_SERVICES := set -a && . .data/services.env && set +a &&
PACKAGES := server actors realtime storage pipelines

.PHONY: run test check bench services stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(NPM_STAMP): server/pages/package-lock.json
	@$(PYTHON) server/devstack.py frontend
	cd server/pages && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

services:
	@$(PYTHON) server/devstack.py ensure

# A development server: the secrets are this checkout's own, generated into .data/ (devstack);
# --set-app-password keeps the database role's password in step with them.
run: $(STAMP) $(NPM_STAMP) services
	@$(WITH_SERVICES) export CADENCE_ENV=development && \
	  $(BIN)/cadence migrate --set-app-password && $(BIN)/cadence seed demo --once && \
	  exec $(BIN)/cadence serve --host 127.0.0.1 --port 8080

check: $(STAMP) $(NPM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES) tests bench
	$(BIN)/lint-imports

test: $(STAMP) $(NPM_STAMP) services check
	@$(WITH_SERVICES) CADENCE_ENV=test $(BIN)/pytest -q -p no:cacheprovider --durations=25

bench: $(STAMP) services
	@$(WITH_SERVICES) export CADENCE_ENV=development && \
	  $(BIN)/cadence migrate && $(BIN)/cadence bench all $(ARGS)

stop:
	@$(PYTHON) server/devstack.py stop

clean: stop
	rm -rf .data $(VENV)
