# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up .venv first (idempotent; the first run builds mmcv, later runs take seconds).
VENV := .venv
BIN := $(VENV)/bin
CODE := otxgen codemods tests benchmarks

.PHONY: setup demo test lint schemas-check bench

setup:
	@bash tools/setup-env.sh

demo: setup
	@bash tools/demo.sh

lint: setup
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

# The committed schemas must equal what the installed libraries give (see README, "Schemas").
schemas-check: setup
	$(BIN)/otxgen schema export --check

test: lint schemas-check
	$(BIN)/python -m pytest -q

bench: setup
	cd benchmarks && ../$(BIN)/python run_all.py
