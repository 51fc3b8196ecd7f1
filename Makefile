# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up .venv first (idempotent; the first run builds mmcv, later runs take seconds).
VENV := .venv
BIN := $(VENV)/bin
CODE := otxgen codemods tests benchmarks tools

.PHONY: setup demo test lint schemas-check bench corpus

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

# The real-config corpus: configs shipped inside mmdet, mmseg and mmpretrain, swapped, built and run
# (about 8 s a config here); the CI sample (12 a library) runs in make test as tests/test_corpus.py.
CORPUS_PER_LIBRARY ?= 50
corpus: setup
	$(BIN)/python tools/corpus.py --per-library $(CORPUS_PER_LIBRARY) --out corpus.json
