"""Plain ViTs into detectors through a pyramid neck, and pyramids into configs built around a ViT.

Each swap is judged independently of otxgen's own checks: mmengine loads the rewritten config, the
library's registry builds the whole model, and it runs a tensor-mode forward at a size the ViT was not
built for (``tests/corpus/sample.py``); the neck's outputs are measured against the strides the
anchors were built for; ``otxgen smoke --train-step`` then runs one training step.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus.sample import build_and_forward, load_config

from otxgen.cli import main

PLAIN_VITS = (
    "timm.vit_small_patch16_224",
    "timm.vit_small_patch14_dinov2",
    "mmpretrain.VisionTransformer",
    "mmseg.VisionTransformer",
)
SIZE = 320  # neither a ViT's 224 nor a multiple of DINOv2's patch 14


def shipped(library: str, relative: str, tmp_path: Path) -> Path:
    root = Path(importlib.import_module(library).__file__ or "").parent / ".mim" / "configs"
    for name in (relative.partition("/")[0], "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path / relative


def template(task: str, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", task, "--workspace", str(workspace)]).exit_code == 0
    return workspace / "model.py"


def swapped(model: Path, backbone: str, *extra: str) -> str:
    args = ["build", "--backbone", backbone, "--model", str(model), "--weights", "none", "--no-smoke", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0
    return result.stderr


def loaded(model: Path) -> Any:
    cfg = load_config(model)
    for module in (cfg.get("custom_imports") or {}).get("imports", []):
        importlib.import_module(module)
    return cfg


def neck_widths(cfg: Any, size: int) -> list[int]:
    """The widths of the maps the whole neck gives for a ``size`` input, measured."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet")
    detector = MODELS.build(copy.deepcopy(cfg.model)).eval()
    with torch.no_grad():
        maps = detector.extract_feat(torch.rand(1, 3, size, size))
    return [int(m.shape[-1]) for m in maps]


def anchor_widths(model: Any, size: int) -> list[int]:
    """The widths of the maps the anchors were built for: one anchor grid step per stride."""
    head = model.get("rpn_head") or model["bbox_head"]
    generator = head.get("anchor_generator") or head["prior_generator"]
    return [math.ceil(size / int(stride)) for stride in generator["strides"]]


def train_step(model: Path) -> dict[str, Any]:
    args = ["smoke", str(model), "--device", "cpu", "--train-step", "--input-size", str(SIZE), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("backbone", PLAIN_VITS)
@pytest.mark.parametrize("task", ["detection", "instance-segmentation"])
def test_a_plain_vit_in_a_detector_template_gets_a_pyramid_and_trains(task: str, backbone: str, tmp_path: Path) -> None:
    model = template(task, tmp_path)
    said = swapped(model, backbone)
    assert "added neck MultiLevelNeck before FPN" in said
    cfg = loaded(model)
    assert [n["type"] for n in cfg.model.neck] == ["mmseg.MultiLevelNeck", "FPN"]
    build_and_forward("mmdet", cfg, SIZE, 300)
    assert neck_widths(cfg, SIZE) == anchor_widths(cfg.model, SIZE)
    report = train_step(model)
    assert report["train_step"]["state"] == "ok", report


@pytest.mark.parametrize("backbone", ["timm.vit_small_patch16_224", "mmseg.VisionTransformer"])
def test_a_plain_vit_in_a_shipped_mask_rcnn_gets_a_pyramid(backbone: str, tmp_path: Path) -> None:
    model = shipped("mmdet", "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py", tmp_path)
    said = swapped(model, backbone)
    assert "frozen_stages" in said.partition("not carried over")[2]  # ResNet's stage 1 is not a ViT's block
    cfg = loaded(model)
    build_and_forward("mmdet", cfg, SIZE, 300)
    assert neck_widths(cfg, SIZE) == anchor_widths(cfg.model, SIZE)
    second = CliRunner().invoke(main, ["build", "--backbone", backbone, "--model", str(model), "--weights", "none"])
    assert second.exit_code == 0 and "Unchanged" in second.stderr, second.output


def test_dinov2s_patch_14_is_made_16_so_the_pyramid_lands_on_the_anchors(tmp_path: Path) -> None:
    model = template("detection", tmp_path)
    said = swapped(model, "timm.vit_small_patch14_dinov2")
    assert "patch_size=16 (the model's is 14)" in said
    cfg = loaded(model)
    assert cfg.model.backbone.patch_size == 16 and cfg.model.backbone.dynamic_img_size is True
    assert cfg.model.neck[0].scales == [2, 1, 0.5]  # the FPN reads strides 8, 16, 32 (start_level=1 before)
    assert cfg.model.neck[1].start_level == 0 and len(cfg.model.neck[1].in_channels) == 3


def test_a_vit_then_a_cnn_gives_the_cnns_pyramid_back_to_the_fpn(tmp_path: Path) -> None:
    """A -> ViT -> CNN: the pyramid neck the ViT got goes, and the FPN reads the CNN's four levels."""
    model = template("instance-segmentation", tmp_path)
    swapped(model, "timm.vit_tiny_patch16_224")
    said = swapped(model, "mmdet.ResNet", "--set", "depth=18")
    assert "removed neck MultiLevelNeck" in said
    cfg = loaded(model)
    assert cfg.model.neck.type == "FPN" and cfg.model.neck.in_channels == [64, 128, 256, 512]
    assert tuple(cfg.model.backbone.get("out_indices", (0, 1, 2, 3))) == (0, 1, 2, 3)  # ResNet's default
    build_and_forward("mmdet", cfg, SIZE, 300)
    assert neck_widths(cfg, SIZE) == anchor_widths(cfg.model, SIZE)


def test_every_output_of_the_pyramid_neck_is_read(tmp_path: Path) -> None:
    """Distributed training fails on parameters without a gradient: the pyramid neck makes only the
    levels the FPN reads (its start_level's too), and every backbone parameter is reached."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    model = template("detection", tmp_path)
    swapped(model, "timm.vit_tiny_patch16_224")
    cfg = loaded(model)
    init_default_scope("mmdet")
    detector = MODELS.build(copy.deepcopy(cfg.model))
    maps = detector.extract_feat(torch.rand(1, 3, SIZE, SIZE))
    sum(m.float().mean() for m in maps).backward()
    unused = [name for name, p in detector.neck.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_a_patch_size_the_user_chose_is_kept_and_the_swap_refused_with_why(tmp_path: Path) -> None:
    model = template("detection", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "timm.vit_small_patch14_dinov2", "--set", "patch_size=14", "--model", str(model)]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 2
    assert "stride 14" in result.stderr and "no power-of-two resizing" in result.stderr
    assert model.read_text() == before


@pytest.mark.parametrize(
    ("backbone", "extra", "neck"),
    [
        ("timm.vit_small_patch16_224", (), "MultiLevelNeck"),  # another ViT: the rescaler reads its last block
        ("mmseg.ResNetV1c", ("--set", "depth=18"), None),  # a pyramid: the rescaler goes
    ],
)
def test_mmsegs_own_vit_config_takes_another_vit_and_a_cnn(
    backbone: str, extra: tuple[str, ...], neck: str | None, tmp_path: Path
) -> None:
    model = shipped("mmseg", "vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py", tmp_path)
    swapped(model, backbone, *extra)
    cfg = loaded(model)
    assert (cfg.model.neck or {}).get("type") == neck
    build_and_forward("mmseg", cfg, 256, 300)


@pytest.mark.parametrize("backbone", ["mmpretrain.VisionTransformer", "timm.vit_small_patch16_224"])
def test_a_vit_into_uperhead_without_a_neck_gets_the_four_levels_it_read(backbone: str, tmp_path: Path) -> None:
    """UPerHead reads levels 0 to 3 of a ResNet, at strides 4 to 32: a ViT's one stride gets MultiLevelNeck
    in front of the heads, as mmseg's own ViT UPerNet configs have it, so the head still fuses four
    scales (it was given the one level, and its pyramid was gone; a hostile pass)."""
    import torch
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    model = shipped("mmseg", "upernet/upernet_r50_4xb4-80k_ade20k-512x512.py", tmp_path)
    said = swapped(model, backbone)
    assert "added neck MultiLevelNeck" in said
    cfg = loaded(model)
    assert cfg.model.decode_head.in_index == [0, 1, 2, 3] and cfg.model.neck.scales == [4, 2, 1, 0.5]
    init_default_scope("mmseg")
    segmentor = MODELS.build(copy.deepcopy(cfg.model)).eval()
    with torch.no_grad():
        levels = segmentor.extract_feat(torch.rand(1, 3, SIZE, SIZE))
    assert [SIZE // int(level.shape[-1]) for level in levels] == [4, 8, 16, 32]
    build_and_forward("mmseg", cfg, 256, 300)


def test_a_vit_into_mask2former_gets_the_four_strides_its_pixel_decoder_reads(tmp_path: Path) -> None:
    """mmseg's Mask2Former head reads every level its in_channels lists, at strides 4 to 32 (its pixel
    decoder's ``strides``): a ViT gets MultiLevelNeck in front of it, as UPerHead does (it was given three
    levels at 16 while the decoder kept 4 to 32: a hostile pass). It trains (its forward runs in predict
    mode: the head takes the data samples)."""
    model = shipped("mmseg", "mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py", tmp_path)
    said = swapped(model, "timm.vit_small_patch16_224")
    assert "added neck MultiLevelNeck" in said
    cfg = loaded(model)
    assert cfg.model.neck.scales == [4, 2, 1, 0.5] and cfg.model.decode_head.strides == [4, 8, 16, 32]
    assert train_step(model)["train_step"]["state"] == "ok"


@pytest.mark.parametrize(
    ("relative", "stride"),
    [("centernet/centernet_r18_8xb16-crop512-140e_coco.py", 4), ("yolof/yolof_r50-c5_8xb8-1x_coco.py", 32)],
)
def test_a_vit_into_a_one_input_neck_is_resized_to_the_stride_it_read(
    relative: str, stride: int, tmp_path: Path
) -> None:
    """CenterNet's neck upsamples the last level 8 times, YOLOF's keeps it for anchors at stride 32: each was
    fed stride 32. A ViT's 16 is resized to it first, so the heads get what they were built for (CenterNet
    got stride 2 without a word; YOLOF was refused; a hostile pass)."""
    model = shipped("mmdet", relative, tmp_path)
    said = swapped(model, "timm.vit_small_patch16_224")
    assert "it resizes the one level by 0.5" in said
    cfg = loaded(model)
    assert neck_widths(cfg, SIZE) == [SIZE // stride]
    build_and_forward("mmdet", cfg, SIZE, 300)


def test_a_vit_of_another_patch_keeps_the_rescaled_strides(tmp_path: Path) -> None:
    """A patch-8 ViT where a patch-16 one was: MultiLevelNeck's factors halve, so its outputs stay at
    strides 4, 8, 16, 32 for the heads."""
    model = shipped("mmseg", "vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py", tmp_path)
    swapped(model, "timm.vit_small_patch8_224")
    cfg = loaded(model)
    assert cfg.model.neck.scales == [2, 1, 0.5, 0.25]


def test_beits_same_width_rescaler_becomes_a_pyramid_neck_of_its_width(tmp_path: Path) -> None:
    model = shipped("mmseg", "beit/beit-base_upernet_8xb2-160k_ade20k-640x640.py", tmp_path)
    said = swapped(model, "timm.vit_small_patch16_224")
    assert "neck Feature2Pyramid (for 4 levels of 768 channels at stride 16) replaced by MultiLevelNeck" in said
    assert "replaced LayerDecayOptimizerConstructor with DefaultOptimWrapperConstructor" in said
    cfg = loaded(model)
    assert cfg.model.neck.type == "MultiLevelNeck" and cfg.model.neck.out_channels == 768
    build_and_forward("mmseg", cfg, 256, 300)


def test_detrs_one_level_neck_gets_the_vits_level_at_its_stride(tmp_path: Path) -> None:
    """DETR's ChannelMapper reads one level at stride 32: the pyramid neck halves the ViT's stride-16 map."""
    model = shipped("mmdet", "detr/detr_r50_8xb2-150e_coco.py", tmp_path)
    said = swapped(model, "timm.vit_tiny_patch16_224")
    assert "ChannelMapper reads strides 32" in said
    cfg = loaded(model)
    assert cfg.model.neck[0].scales == [0.5] and cfg.model.neck[1].in_channels == [256]
    build_and_forward("mmdet", cfg, SIZE, 300)


def test_yolov3s_deepest_first_neck_gets_the_vits_levels_at_its_strides(tmp_path: Path) -> None:
    """YOLOV3Neck reads strides 32, 16, 8 (deepest first): the pyramid neck gives 8, 16, 32 in order."""
    model = shipped("mmdet", "yolo/yolov3_d53_8xb8-320-273e_coco.py", tmp_path)
    said = swapped(model, "timm.vit_tiny_patch16_224")
    assert "added neck MultiLevelNeck before YOLOV3Neck" in said
    cfg = loaded(model)
    assert cfg.model.neck[0].scales == [2, 1, 0.5] and cfg.model.neck[1].type == "YOLOV3Neck"
    build_and_forward("mmdet", cfg, SIZE, 300)
    assert neck_widths(cfg, SIZE) == anchor_widths(cfg.model, SIZE)  # both deepest first: 32, 16, 8
    report = train_step(model)
    assert report["train_step"]["state"] == "ok", report
