# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up .venv first (idempotent; the first run builds mmcv, later runs take seconds).
VENV := .venv
BIN := $(VENV)/bin
CODE := otxgen codemods tests benchmarks tools

.PHONY: setup demo test lint schemas-check bench corpus matrix

setup:
	@bash tools/setup-env.sh

demo: setup
	@bash tools/demo.sh

lint: setup
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

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

# The committed matrix (schemas/verified.json, read by find): every listed backbone's default arch,
# static + build + forward in the default template of each task, static alone in the other templates.
# Resumable: records stay in $(MATRIX_OUT), a second run computes only the cells still missing, and a
# fresh checkout takes the committed cells whose key still holds (--seed), so it computes only the rest
# (MATRIX_ARGS="--max-minutes 90" stops starting cells after that; exit 1 then, the file is still copied;
# MATRIX_ARGS="--rerun mmdet --rerun failed" computes those cells again after a fix in otxgen).
MATRIX_OUT ?= build/matrix
MATRIX_JOBS ?= 1
MATRIX_ARGS ?=
MATRIX_TEMPLATES := classification-efficientnet-b0 detection-atss-mobilenetv2 instance-segmentation-maskrcnn-r50 \
	segmentation-hrnet18-fcn classification-mobilenetv3-large:static detection-retinanet-r50:static \
	segmentation-lraspp-mobilenetv3:static
matrix: setup
	$(BIN)/otxgen matrix --checks static,build,forward $(addprefix --template ,$(MATRIX_TEMPLATES)) \
		--jobs $(MATRIX_JOBS) --time-limit 120 --seed schemas/verified.json --out $(MATRIX_OUT) $(MATRIX_ARGS) >/dev/null || [ $$? -eq 1 ]
	cp $(MATRIX_OUT)/verified.json schemas/verified.json
