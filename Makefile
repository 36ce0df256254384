# Two commands: `make run` serves the product, `make test` runs the whole suite.
# Both create .venv, install the locked dependencies and start the embedded
# PostgreSQL + pgvector and Valkey (no Docker, no system services).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
# Named after what it was installed from, so a checkout that changes either reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
LOCK_ARGS ?=

.PHONY: install lock run test lint format bench stack-up stack-down stack-status clean

install: $(STAMP)

# The venv and every package the lock pins, each file checked against its hash
# (docs/adr/0007-lock-file.md). --no-deps: the lock is the whole dependency graph
# (`pip check` below proves it), and pip 23.2, the one a new venv brings here, refuses
# a hashed lock in which a package asks for another's extras (httpx[http2]).
define install-locked
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
endef

# The project itself: its dependencies came from the lock, the locked setuptools builds it.
$(STAMP): pyproject.toml $(LOCK)
	$(install-locked)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check || { echo "$(LOCK) does not satisfy pyproject.toml: run make lock" >&2; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

# `make lock` needs only pip-tools from the lock, not the full install that a lock
# out of date with pyproject.toml fails.
$(BIN)/pip-compile:
	$(install-locked)

# Regenerate the locks from pyproject.toml. Pins already in a lock are kept, so a second
# run writes the same files. To move a pin, change it in pyproject.toml; for a package
# that pyproject.toml does not name: make lock LOCK_ARGS="--upgrade-package NAME".
# The runtime lock (the Docker image's) is constrained by the full one, so production
# runs the versions the tests ran. Folders of pip's machine config stay out of the files.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

lock: $(BIN)/pip-compile
	$(PIP_COMPILE) --all-extras --build-deps-for=editable $(LOCK_ARGS) -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) --build-deps-for=wheel -c $(LOCK) -o requirements/base.lock pyproject.toml

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
	$(BIN)/python bench/metering.py $(BENCH_ARGS)
	$(BIN)/python bench/guardrails.py $(BENCH_ARGS)
	$(BIN)/python bench/api_keys.py $(BENCH_ARGS)
	$(BIN)/python bench/finops.py $(BENCH_ARGS)
	$(BIN)/python bench/operator_console.py $(BENCH_ARGS)
	$(BIN)/python bench/quality.py $(BENCH_ARGS)

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
