"""The input size a config feeds its model, and backbones built for one size: made for it, or refused.

Judged independently: mmengine loads the rewritten config, mmpretrain's registry builds the whole model
and it runs a forward at the config's own crop (``tests/corpus/sample.py``)."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus.sample import build_and_forward, load_config

from otxgen.cli import main
from otxgen.facts.inputs import batch_sides, input_sides

VIT_384 = "vision_transformer/vit-base-p16_64xb64_in1k-384px.py"


def test_the_side_a_config_feeds_is_its_crop() -> None:
    segmentor = {"model": {"data_preprocessor": {"size": (512, 1024)}}}
    classifier = {
        "model": {},
        "train_dataloader": {"dataset": {"dataset": {"pipeline": [{"type": "RandomResizedCrop", "scale": 384}]}}},
    }
    detector = {"model": {}, "train_pipeline": [{"type": "Resize", "scale": (1333, 800), "keep_ratio": True}]}
    assert input_sides(segmentor) == [1024]
    assert input_sides(classifier) == [384]
    assert input_sides(detector) == []
    differing = {
        "model": {},
        "train_pipeline": [{"type": "RandomResizedCrop", "scale": 192}, {"type": "PackInputs"}],
        "test_dataloader": {
            "dataset": {"pipeline": [{"type": "ResizeEdge", "scale": 256}, {"type": "CenterCrop", "crop_size": 224}]}
        },
    }
    assert input_sides(differing) == [192, 224]


def shipped_vit_384(tmp_path: Path) -> Path:
    root = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    for name in ("vision_transformer", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path / VIT_384


def test_a_224_px_vit_in_a_384_px_classifier_is_made_for_384(tmp_path: Path) -> None:
    model = shipped_vit_384(tmp_path)
    args = ["build", "--backbone", "timm.vit_small_patch16_224", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "set img_size=384: timm.vit_small_patch16_224 is built for 224 px input" in result.stderr
    cfg = load_config(model)
    assert cfg.model.backbone.img_size == 384
    importlib.import_module("otxgen.libraries.timm")
    build_and_forward("mmpretrain", cfg, 384, 300)


def test_a_backbone_that_cannot_take_the_crop_is_refused_with_both_sizes(tmp_path: Path) -> None:
    model = shipped_vit_384(tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "timm.efficientformer_l1", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 2
    assert "built for 224 px input, and the config feeds it 384 px images" in result.stderr
    assert "crop to 224 px" in result.stderr
    assert model.read_text() == before


def test_an_mm_backbone_made_for_224_px_is_told_how_to_take_the_crop(tmp_path: Path) -> None:
    """mmpretrain's LeViT does not run on the 384 px crop: the refusal names its img_size argument as a way
    forward (a hostile pass found only "crop to a size it takes"), and that way builds and runs."""
    model = shipped_vit_384(tmp_path)
    args = ["build", "--backbone", "mmpretrain.LeViT", "--model", str(model), "--weights", "none"]
    refused = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert refused.exit_code == 2
    assert "mmpretrain.LeViT does not run on 384 px input" in refused.stderr
    assert "set its img_size to it (--set img_size=384;" in refused.stderr
    result = CliRunner().invoke(main, [*args, "--set", "img_size=384"])
    assert result.exit_code == 0, result.output


def test_the_smoke_build_runs_at_the_configs_own_crop(tmp_path: Path) -> None:
    model = shipped_vit_384(tmp_path)
    result = CliRunner().invoke(main, ["smoke", str(model), "--device", "meta", "--format", "json"])
    assert json.loads(result.stdout)["input_size"] == 384, result.output


@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_a_dense_task_makes_a_fixed_size_vit_take_any_size(task: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", task, "--workspace", str(workspace)]).exit_code == 0
    args = ["build", "--backbone", "timm.deit_tiny_patch16_224", "--model", str(workspace / "model.py")]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "set dynamic_img_size=True" in result.stderr
    assert load_config(workspace / "model.py").model.backbone.dynamic_img_size is True


def test_a_classifier_that_tests_at_another_crop_gets_a_vit_of_any_size(tmp_path: Path) -> None:
    """EfficientNetV2-B0's config trains at 192 px and tests at 224: one img_size would fail one of them."""
    root = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    for name in ("efficientnet_v2", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "efficientnet_v2" / "efficientnetv2-b0_8xb32_in1k.py"
    args = ["build", "--backbone", "timm.vit_tiny_patch16_224", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "the config feeds it 192 and 224 px images" in result.stderr
    cfg = load_config(model)
    assert cfg.model.backbone.dynamic_img_size is True and "img_size" not in cfg.model.backbone
    importlib.import_module("otxgen.libraries.timm")
    for side in (192, 224):
        build_and_forward("mmpretrain", cfg, side, 300)


def test_a_swin_v2_window_larger_than_the_crops_last_map_is_padded(tmp_path: Path) -> None:
    """mmpretrain's SwinV2 is built for 256 px (an 8 px map under its 8 px window at stride 32); the
    classification template crops to 224 (a 7 px map): its library's own argument pads the map."""
    workspace = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", "classification", "--workspace", str(workspace)]).exit_code == 0
    model = workspace / "model.py"
    args = ["build", "--backbone", "mmpretrain.SwinTransformerV2", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "set pad_small_map=True: mmpretrain.SwinTransformerV2 does not run on 224 px input" in result.stderr
    cfg = load_config(model)
    assert cfg.model.backbone.pad_small_map is True
    build_and_forward("mmpretrain", cfg, 224, 300)


def test_a_backbone_bound_to_coarser_sizes_is_refused_with_the_side_in_a_classifier(tmp_path: Path) -> None:
    """timm's HaloNet attends in 8 px blocks of its stride-32 map: it runs at 256 px (its own size), not
    at a 224 px crop. Nothing in its metadata says so."""
    model = template_model("classification", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "timm.halonet26t", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert (
        "timm.halonet26t does not run on 224 px input" in result.stderr and "crop to a size it takes" in result.stderr
    )
    assert model.read_text() == before


@pytest.mark.parametrize(("backbone", "multiple"), [("timm.maxvit_nano_rw_256", 256), ("timm.halonet26t", 256)])
def test_a_detector_pads_its_images_to_the_multiple_a_window_backbone_runs_on(
    backbone: str, multiple: int, tmp_path: Path
) -> None:
    """MaxViT's windows (8 px at stride 32) must divide every map, HaloNet's blocks too: a detector's images
    padded to a multiple of 32 (224 px) fail, padded to a multiple of 256 they run. The preprocessor is
    set to pad to it, said in a line; the whole model, built by mmdet's registry, runs at one and two of
    it, and the smoke-build's train step passes."""
    model = template_model("detection", tmp_path)
    args = ["build", "--backbone", backbone, "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert f"data_preprocessor.pad_size_divisor={multiple} (was 32): {backbone} runs only on sides" in result.stderr
    cfg = load_config(model)
    assert cfg.model.data_preprocessor.pad_size_divisor == multiple
    importlib.import_module("otxgen.libraries.timm")
    for side in (multiple, 2 * multiple):
        build_and_forward("mmdet", cfg, side, 300)
    smoke = CliRunner().invoke(main, ["smoke", str(model), "--train-step", "--format", "json"])
    assert smoke.exit_code == 0, smoke.output
    assert json.loads(smoke.stdout)["input_size"] % multiple == 0


@pytest.mark.parametrize(("task", "library"), [("detection", "mmdet"), ("segmentation", "mmseg")])
def test_a_fixed_size_model_nothing_frees_runs_on_squares_of_its_size_in_a_dense_task(
    task: str, library: str, tmp_path: Path
) -> None:
    """timm's CoaT-Lite holds a position table for 224 px alone: dynamic_img_size does not build for it,
    and no padding multiple makes a dense model's images of many sizes fit it. Its wrapper is set to run
    it on 224 px squares, said in a line; the whole model, built by the task's library, runs at sides
    that are not multiples of 224, and the smoke-build's train step passes."""
    model = template_model(task, tmp_path)
    args = ["build", "--backbone", "timm.coat_lite_tiny", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "[!] model.py: set tile_size=224: timm.coat_lite_tiny does not run on" in result.stderr
    assert "224 px squares of each image" in result.stderr
    cfg = load_config(model)
    assert cfg.model.backbone.tile_size == 224
    importlib.import_module("otxgen.libraries.timm")
    for side in (256, 480):
        build_and_forward(library, cfg, side, 300)
    smoke = CliRunner().invoke(main, ["smoke", str(model), "--train-step", "--format", "json"])
    assert smoke.exit_code == 0, smoke.output


def test_a_fixed_size_model_whose_wrapper_cannot_tile_is_refused_in_a_detector(tmp_path: Path) -> None:
    """mmpretrain's LeViT holds attention biases for 224 px alone, and mmpretrain's backbones are not
    otxgen's wrappers: nothing runs it on a detector's images of many sizes, so the swap is refused."""
    model = template_model("detection", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "mmpretrain.LeViT", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert "mmpretrain.LeViT does not run on" in result.stderr and "and of none up to 256" in result.stderr
    assert model.read_text() == before


def shipped(library: str, folder: str, tmp_path: Path) -> Path:
    root = Path(importlib.import_module(library).__file__ or "").parent / ".mim" / "configs"
    for name in (folder, "_base_", "common"):
        if (root / name).is_dir():
            shutil.copytree(root / name, tmp_path / name)
    return tmp_path / folder


def test_a_segmentor_with_a_crop_is_fed_images_of_any_size_at_test_too(tmp_path: Path) -> None:
    """mmseg's UPerNet crops to 512 px to train and tests on whole images: MaxViT's 8 px windows at stride
    32 run at the crop and not at 224 px, so the swap must not stop at the crop. It runs on 256 px
    squares; the whole model runs at 224 and 512 px."""
    model = shipped("mmseg", "upernet", tmp_path) / "upernet_r50_4xb4-80k_ade20k-512x512.py"
    args = ["build", "--backbone", "timm.maxvit_nano_rw_256", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "set tile_size=256: timm.maxvit_nano_rw_256 does not run on 224 px input" in result.stderr
    cfg = load_config(model)
    assert cfg.model.backbone.tile_size == 256
    importlib.import_module("otxgen.libraries.timm")
    for side in (224, 512):
        build_and_forward("mmseg", cfg, side, 300)


def test_a_detector_with_a_crop_pads_its_test_images_too(tmp_path: Path) -> None:
    """mmdet's large-scale-jitter Mask R-CNN crops to 1024 px to train and tests on images resized whole:
    MaxViT's windows get every batch padded to a multiple of 256, not only the crop."""
    model = shipped("mmdet", "mask_rcnn", tmp_path) / "mask-rcnn_r50_fpn_8xb8-amp-lsj-200e_coco.py"
    args = ["build", "--backbone", "timm.maxvit_nano_rw_256", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    assert "data_preprocessor.pad_size_divisor=256 (was 32)" in result.stderr
    assert load_config(model).model.data_preprocessor.pad_size_divisor == 256


def test_a_batch_padded_to_a_fixed_size_no_coarser_multiple_divides_is_tiled(tmp_path: Path) -> None:
    """NAS-FPN's RetinaNet pads every training batch to 640 px after its multiple of 64: padding to 256
    would still end at 640, which MaxViT's windows do not divide, so the backbone runs on squares of
    its own 256 px instead and the preprocessor is left alone."""
    model = shipped("mmdet", "nas_fpn", tmp_path) / "retinanet_r50_fpn_crop640-50e_coco.py"
    args = ["build", "--backbone", "timm.maxvit_nano_rw_256", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, [*args, "--no-smoke"])
    assert result.exit_code == 0, result.output
    cfg = load_config(model)
    assert cfg.model.backbone.tile_size == 256 and cfg.model.data_preprocessor.pad_size_divisor == 64
    importlib.import_module("otxgen.libraries.timm")
    build_and_forward("mmdet", cfg, 640, 300)


def test_the_sides_a_detectors_batch_augments_pad_to() -> None:
    fixed = {"model": {"data_preprocessor": {"batch_augments": [{"type": "BatchFixedSizePad", "size": (640, 512)}]}}}
    resized = {"data_preprocessor": {"batch_augments": [{"type": "mmdet.BatchSyncRandomResize", "interval": 10}]}}
    assert batch_sides(fixed) == (640, 512)
    assert batch_sides(resized) is None
    assert batch_sides({"model": {"data_preprocessor": {"pad_size_divisor": 32}}}) == ()


def test_a_model_made_for_another_size_runs_on_squares_of_that_size(tmp_path: Path) -> None:
    """``img_size=384`` given to a 224 px CaiT in a detector: it runs on 384 px squares; swapped again with
    another size, the old squares are not kept (they were derived from the old size)."""
    model = template_model("detection", tmp_path)
    args = ["build", "--backbone", "timm.cait_xxs24_224", "--model", str(model), "--weights", "none", "--no-smoke"]
    result = CliRunner().invoke(main, [*args, "--set", "img_size=384"])
    assert result.exit_code == 0, result.output
    assert load_config(model).model.backbone.tile_size == 384
    result = CliRunner().invoke(main, [*args, "--set", "img_size=256"])
    assert result.exit_code == 0, result.output
    assert "not carried over: tile_size, since the input size is given anew" in result.stderr
    cfg = load_config(model)
    assert (cfg.model.backbone.img_size, cfg.model.backbone.tile_size) == (256, 256)
    importlib.import_module("otxgen.libraries.timm")
    build_and_forward("mmdet", cfg, 320, 300)


@pytest.mark.parametrize("tile", ["0", "-1"])
def test_a_tile_size_below_one_is_refused_before_anything_runs(tile: str, tmp_path: Path) -> None:
    model = template_model("detection", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "timm.cait_xxs24_224", "--model", str(model), "--weights", "none", "--no-smoke"]
    result = CliRunner().invoke(main, [*args, "--set", f"tile_size={tile}"])
    assert result.exit_code == 2, result.output
    assert "tile_size" in result.stderr and "minimum of 1" in result.stderr
    assert model.read_text() == before


def test_a_size_argument_the_user_set_is_kept_and_held_to_the_crop(tmp_path: Path) -> None:
    model = template_model("classification", tmp_path)
    args = ["build", "--backbone", "mmpretrain.SwinTransformerV2", "--set", "pad_small_map=False"]
    result = CliRunner().invoke(main, [*args, "--model", str(model), "--weights", "none", "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert "mmpretrain.SwinTransformerV2 does not run on 224 px input" in result.stderr


def template_model(task: str, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", task, "--workspace", str(workspace)]).exit_code == 0
    return workspace / "model.py"


def test_a_backbone_that_runs_only_at_the_configs_crop_is_probed_there(tmp_path: Path) -> None:
    """The config's SwinV2 windows of 24 (kept for the same type) fit its 384 px crop, not SwinV2's own
    256 px: probed there, the swap to another arch is planned instead of blamed on window_size."""
    root = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    for name in ("swin_transformer_v2", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "swin_transformer_v2" / "swinv2-base-w24_in21k-pre_16xb64_in1k-384px.py"
    args = ["build", "--backbone", "mmpretrain.SwinTransformerV2", "--set", "arch=tiny", "--model", str(model)]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 0, result.output
    build_and_forward("mmpretrain", load_config(model), 384, 300)
