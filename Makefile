# Carteiro: `make serve` to run it, `make test` to test it. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CARTEIRO_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export CARTEIRO_TEST_PG_URL

.PHONY: serve test test-sqlite test-postgresql lint bench clean dovecot chromium vendor messages \
	mcp-inspector langchain-mcp

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[postgres]"
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[postgres,test]"
	touch $@ $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/carteiro serve

test: $(VENV)/.installed-test dovecot chromium mcp-inspector langchain-mcp
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

test-sqlite: $(VENV)/.installed-test
	CARTEIRO_TEST_DATABASE=sqlite $(BIN)/pytest -q

# On a developer machine without PostgreSQL this pass is skipped with a notice; in CI it fails.
test-postgresql: $(VENV)/.installed-test
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$(CARTEIRO_TEST_PG_URL)" 2>/dev/null; then \
		CARTEIRO_TEST_DATABASE=postgresql $(BIN)/pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(CARTEIRO_TEST_PG_URL) (required in CI)"; exit 1; \
	else \
		echo "PostgreSQL not reachable at $(CARTEIRO_TEST_PG_URL): skipping the PostgreSQL pass"; \
	fi

# The inbox tests need Debian's dovecot-imapd; install it when we can (root with apt).
dovecot:
	@if [ ! -x /usr/sbin/dovecot ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; \
	fi

# The web console's browser tests drive Debian's headless Chromium (never `playwright install`,
# which downloads from elsewhere); install it when we can (root with apt).
chromium:
	@if [ ! -x /usr/lib/chromium/chromium-headless-shell ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-headless-shell fonts-liberation; \
	fi

# Test tools that cannot live in .venv, pinned, fetched once per checkout into .tools/ (ignored).
TOOLS := .tools
# The MCP Inspector CLI needs node 22 (Debian has 20): both come from the npm registry (the `node`
# package ships the binary). In CI a failed install fails the run: the tests would not skip.
NODE_VERSION := 22.23.3
INSPECTOR_VERSION := 2.12.0
INSPECTOR_DIR := $(TOOLS)/mcp-inspector-$(INSPECTOR_VERSION)-node-$(NODE_VERSION)
mcp-inspector:
	@if [ -x $(INSPECTOR_DIR)/node_modules/.bin/mcp-inspector ]; then :; \
	elif command -v npm >/dev/null; then \
		npm install --prefix $(INSPECTOR_DIR) --no-save --no-audit --no-fund --loglevel=error \
			node@$(NODE_VERSION) @modelcontextprotocol/inspector@$(INSPECTOR_VERSION) \
		|| { rm -rf $(INSPECTOR_DIR); [ "$$CI" != "true" ]; }; \
	elif [ "$$CI" = "true" ]; then echo "npm is missing: the MCP Inspector tests need it"; exit 1; \
	fi

# langchain-mcp-adapters pins mcp<2, so the over-the-wire LangChain test runs it from a venv
# of its own (pinned versions) that talks to `carteiro serve` over HTTP.
LANGCHAIN_MCP_DIR := $(TOOLS)/langchain-mcp-0.3.2
langchain-mcp:
	@if [ -f $(LANGCHAIN_MCP_DIR)/.installed ]; then :; \
	elif $(PYTHON) -m venv $(LANGCHAIN_MCP_DIR) && $(LANGCHAIN_MCP_DIR)/bin/pip install --quiet \
		--disable-pip-version-check langchain-mcp-adapters==0.3.2 langchain-core==1.8.3 \
		mcp==1.30.0; then touch $(LANGCHAIN_MCP_DIR)/.installed; \
	else rm -rf $(LANGCHAIN_MCP_DIR); [ "$$CI" != "true" ]; fi

# The tests use exactly these (run directly, pytest looks under .tools/ itself).
export CARTEIRO_MCP_INSPECTOR ?= $(abspath $(INSPECTOR_DIR))/node_modules/.bin/mcp-inspector
export CARTEIRO_LANGCHAIN_MCP_PYTHON ?= $(abspath $(LANGCHAIN_MCP_DIR))/bin/python

# Developers only: refresh the vendored JS/CSS from npm at the pinned versions (needs node).
vendor:
	./scripts/vendor.sh

# Extract the console's texts, merge them into the catalogues, compile the .mo files (committed).
LOCALE_DIR := src/carteiro/web/locale
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k text:2 --no-location --sort-output \
		--project=carteiro -o $(LOCALE_DIR)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR) -D messages \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(LOCALE_DIR) -D messages --statistics

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
