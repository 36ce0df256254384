# Two commands: `make run` serves the product, `make test` runs the whole suite.
# Both create .venv, install the pinned dependencies and start the embedded
# PostgreSQL + pgvector and Valkey (no Docker, no system services).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install run test lint format bench stack-up stack-down stack-status clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,provider,test,lint]'
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	$(BIN)/python -m apps.core.devstack run

test: install
	LOCAL_PROVIDER_TTFT_MS=0 LOCAL_PROVIDER_TOKENS_PER_S=0 \
		$(BIN)/python -m apps.core.devstack exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (not tests): each prints a table and writes JSON under bench/results/.
bench: install
	$(BIN)/python bench/gateway.py $(BENCH_ARGS)
	$(BIN)/python bench/semantic_cache_quality.py $(BENCH_ARGS)
	$(BIN)/python bench/chat_streams.py $(BENCH_ARGS)
	$(BIN)/python bench/retrieval.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

stack-up: install
	$(BIN)/python -m apps.core.devstack up

stack-down: install
	$(BIN)/python -m apps.core.devstack down

stack-status: install
	$(BIN)/python -m apps.core.devstack status

clean: stack-down
	rm -rf .devdata staticfiles test-artifacts
