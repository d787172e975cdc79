# Carteiro: `make serve` to run it, `make test` to test it. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CARTEIRO_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export CARTEIRO_TEST_PG_URL

.PHONY: serve test test-sqlite test-postgresql lint bench clean dovecot chromium vendor messages

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

test: $(VENV)/.installed-test dovecot chromium
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
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
