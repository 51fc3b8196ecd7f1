# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up .venv first (idempotent; the first run builds mmcv, later runs take seconds).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench

setup:
	@bash tools/setup-env.sh

demo: setup
	@bash tools/demo.sh

lint: setup
	$(BIN)/ruff check otxgen codemods tests benchmarks
	$(BIN)/ruff format --check otxgen codemods
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run_all.py
