# Two commands: `make run` serves the app on http://127.0.0.1:7071; `make test` runs every check.
# Both set everything up first (a venv in .venv, Azurite in node_modules); nothing is installed globally.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# checkov pins many packages of its own, so it lives apart from the app's environment.
CHECKOV_VENV := .venv-checkov
PYTEST_ARGS ?=
# Test modules run in parallel workers, each with a stack of its own (Azurite, stand-ins, host);
# a module stays on one worker (its module-scoped hosts and partners). Much of a test's time is
# spent waiting on a subprocess, so a worker more than the cores still pays.
TEST_WORKERS ?= 3
# Schemathesis gives every operation's test one node id, and xdist's loadfile keys tests by node
# id (it ran one operation of 182): that module runs in a pytest process of its own, after the rest.
SCHEMATHESIS := tests/e2e/test_schemathesis.py
# apt-get needs root: sudo only for a person who is not.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup portal run test test-suite test-schemathesis chromium coverage lint typecheck unit bench clean

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: infra/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The partner portal (portal/, served by the stamp at /): its npm packages, the API's types from
# the OpenAPI document the app serves, then Vite's build into portal/dist. Rebuilt only when the
# portal's sources or packages, or the Python that makes the API, changed (schema.d.ts is made by
# the build itself).
PORTAL_SOURCES := $(shell find portal/src -type f -not -name schema.d.ts) portal/index.html \
	portal/package.json portal/vite.config.ts portal/tsconfig.json
API_SOURCES := $(shell find functions shared -name '*.py')

portal: portal/dist/index.html

portal/node_modules/.installed: portal/package.json portal/package-lock.json
	npm ci --prefix portal --no-audit --no-fund --loglevel=error
	touch $@

portal/dist/index.html: portal/node_modules/.installed $(PORTAL_SOURCES) $(API_SOURCES) | $(VENV)/.installed
	$(PY) -m localdev openapi > portal/openapi.json.tmp
	mv portal/openapi.json.tmp portal/openapi.json
	npm run --prefix portal build
	touch $@

run: setup portal
	$(PY) -m localdev run

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

# Lint, typecheck and the suite in xdist workers at once: a job's output is printed whole when it
# ends (-O), -k lets the others finish so one run shows every failure, and make exits non-zero if
# any failed. The schemathesis module (its own pytest process) runs after them: on 2 cores, beside
# the suite, it made the whole longer (clean clone: suite 17 min 20 s with it alongside, against
# about 11 min + 3 min 40 s one after the other).
test: setup chromium portal
	@$(MAKE) --no-print-directory -k -j3 -O lint typecheck test-suite
	@$(MAKE) --no-print-directory test-schemathesis

test-suite: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --deselect $(SCHEMATHESIS) $(PYTEST_ARGS)

test-schemathesis: setup
	$(PY) -m pytest $(SCHEMATHESIS) $(PYTEST_ARGS)

# tests/browser drive Debian's Chromium (never a browser download of Playwright's own).
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

# The same suite with coverage measured and printed (shared/, functions/, localdev/; the local host
# subprocesses included), never a gate. Apart from `make test`, which it made much slower: every
# host subprocess was traced. `make unit` needs neither Node nor Azurite.
coverage: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --cov --cov-report= --deselect $(SCHEMATHESIS) $(PYTEST_ARGS)
	$(PY) -m pytest --cov --cov-append --cov-report=term:skip-covered $(SCHEMATHESIS) $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

bench: setup
	$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .azurite .mypy_cache .ruff_cache .pytest_cache
	rm -rf portal/node_modules portal/dist portal/openapi.json portal/src/api/schema.d.ts
