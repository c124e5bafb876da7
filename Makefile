# chaosha: the two commands are `make demo` (stack up + master-kill) and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
EXTRAS  ?= dev

.PHONY: demo up down status logs heal venv test test-unit test-integration lint experiments

$(BIN)/chaosha: setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	@touch $@

venv: $(BIN)/chaosha

## Bring the stack up (bootstrap, build, start, wait for a write) and run the headline experiment.
demo: up
	$(BIN)/chaos --log-file .chaosha/journals/master-kill.log run \
	  --journal-path .chaosha/journals/master-kill.json experiments/master-kill.json
	$(BIN)/chaosha report .chaosha/journals/master-kill.json -o .chaosha/journals/master-kill.html

up: venv
	@mkdir -p .chaosha/journals
	$(BIN)/chaosha stack up

down: venv
	$(BIN)/chaosha stack down

status: venv
	$(BIN)/chaosha stack status

logs: venv
	$(BIN)/chaosha stack logs

heal: venv
	$(BIN)/chaosha heal

lint: venv
	$(BIN)/ruff check chaosha tests experiments bench
	$(BIN)/ruff format --check chaosha tests experiments bench
	$(BIN)/mypy chaosha

experiments: venv
	$(BIN)/python experiments/build.py

test-unit: venv
	$(BIN)/pytest -m "not integration" -q --cov=chaosha --cov-report=term:skip-covered

## Starts its own stack (project chaosha-test, ports from 31000) and tears it down.
test-integration: venv
	bash compose/bootstrap.sh
	$(BIN)/pytest -m integration -q --durations=30 --cov=chaosha --cov-report=term:skip-covered

## The test command: lint, fast unit tests, then the integration tests against the real stack.
test: lint test-unit test-integration
