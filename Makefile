# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up .venv first (idempotent; the first run builds mmcv, later runs take seconds).
VENV := .venv
BIN := $(VENV)/bin
CODE := otxgen codemods tests benchmarks tools

.PHONY: setup demo test lint schemas-check bench corpus matrix matrix-vits deploys

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

# The deployment matrix (schemas/deploys.json, find's Deploys column): the default classification and
# detection templates with the OpenVINO export check too. Resumable as the matrix is, and committed as it
# grows (DEPLOYS_ARGS="--backbone torchvision --max-minutes 60": a part of it).
DEPLOYS_OUT ?= build/deploys
DEPLOYS_ARGS ?=
deploys: setup
	$(BIN)/otxgen matrix --template classification-efficientnet-b0:static,build,forward,export \
		--template detection-atss-mobilenetv2:static,build,forward,export --jobs $(MATRIX_JOBS) --time-limit 300 \
		$(if $(wildcard schemas/deploys.json),--seed schemas/deploys.json) --seed schemas/verified.json \
		--out $(DEPLOYS_OUT) $(DEPLOYS_ARGS) \
		>/dev/null || [ $$? -eq 1 ]
	cp $(DEPLOYS_OUT)/verified.json schemas/deploys.json

# Plain ViTs (every level at one stride) of 12 families in the detection and instance-segmentation
# default templates, with the train check: the sample behind docs/matrix.md's ViT figures.
VIT_SAMPLE := timm.vit_tiny_patch16_224 timm.vit_small_patch16_224 timm.vit_base_patch16_224 \
	timm.vit_small_patch32_224 timm.vit_base_patch32_224 timm.vit_small_patch8_224 timm.deit_tiny_patch16_224 \
	timm.deit_small_patch16_224 timm.deit_base_patch16_224 timm.deit3_small_patch16_224 \
	timm.deit_tiny_distilled_patch16_224 timm.eva02_tiny_patch14_224 timm.eva02_small_patch14_224 \
	timm.vit_small_patch14_dinov2 timm.vit_small_patch14_reg4_dinov2 timm.beit_base_patch16_224 \
	timm.beitv2_base_patch16_224 timm.vit_base_patch16_siglip_224 timm.vit_base_patch16_clip_224 \
	timm.flexivit_small timm.vit_relpos_small_patch16_224 timm.vit_srelpos_small_patch16_224 \
	timm.vit_medium_patch16_gap_256 timm.vit_base_patch16_rope_224 timm.vit_small_patch16_rope_224 \
	timm.vit_pe_core_small_patch16_384 mmpretrain.VisionTransformer mmseg.VisionTransformer mmpretrain.DeiT3 \
	mmpretrain.BEiTViT mmpretrain.ViTEVA02 mmpretrain.ViTSAM mmseg.BEiT mmseg.MAE \
	mmpretrain.DistilledVisionTransformer
matrix-vits: setup
	$(BIN)/otxgen matrix $(addprefix --backbone ,$(VIT_SAMPLE)) --template detection-atss-mobilenetv2:static,build,forward,train \
		--template instance-segmentation-maskrcnn-r50:static,build,forward,train --jobs $(MATRIX_JOBS) --time-limit 300 \
		--out build/matrix-vits
