"""Swaps of shipped configs whose consumers the plan, validate and the smoke-build once disagreed about,
each judged independently: mmengine loads the rewritten config, the library's registry builds the whole
model and it runs a forward (``tests/corpus/sample.py``'s ``build_and_forward``)."""

from __future__ import annotations

import importlib
import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus.sample import build_and_forward, data_samples, load_config

from otxgen.cli import main


def shipped(library: str, relative: str, tmp_path: Path, also: tuple[str, ...] = ()) -> Path:
    """A copy of a library's shipped config folder, its ``_base_`` folder and the folders ``also`` names
    (other configs it inherits), to rewrite freely."""
    root = Path(importlib.import_module(library).__file__ or "").parent / ".mim" / "configs"
    folder = relative.partition("/")[0]
    for name in (folder, "_base_", *also):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path / relative


def swapped(model: Path, *backbone: str, weights: str = "none") -> str:
    result = CliRunner().invoke(main, ["build", "--backbone", *backbone, "--model", str(model), "--weights", weights])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0
    return result.stderr


@pytest.mark.parametrize(
    "backbone", [("mmdet.ResNet", "--set", "depth=50"), ("mmdet.RegNet",), ("torchvision.resnet18",)], ids=str
)
def test_yolov3_takes_any_pyramid_backbone_deepest_first(tmp_path: Path, backbone: tuple[str, ...]) -> None:
    model = shipped("mmdet", "yolo/yolov3_d53_8xb8-320-273e_coco.py", tmp_path)
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0  # untouched: nothing to find
    said = swapped(model, *backbone)
    assert "keeps the strides its neck expects (8, 16, 32)" in said
    cfg = load_config(model)
    for module in (cfg.get("custom_imports") or {}).get("imports", []):
        importlib.import_module(module)
    build_and_forward("mmdet", cfg, 320, 120)


@pytest.mark.parametrize(
    ("library", "relative", "size"),
    [
        # heads built for their backbone's own outputs, whatever form (one tensor in evaluation)
        ("mmseg", "ddrnet/ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py", 256),
        ("mmseg", "pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py", 256),
        # a registered adapter around the backbone given as its ``module``: no schema, a note
        ("mmpretrain", "vision_transformer/vit-base-p16_8xb64-lora_in1k-384px.py", 384),
    ],
    ids=lambda value: str(value).partition("/")[0],
)
def test_validate_finds_no_error_in_a_shipped_config_that_builds_and_runs(
    tmp_path: Path, library: str, relative: str, size: int
) -> None:
    model = shipped(library, relative, tmp_path)
    result = CliRunner().invoke(main, ["validate", str(model)])
    assert result.exit_code == 0 and " 0 errors" in result.stderr, result.output
    cfg = load_config(model)
    if cfg.model.backbone.type == "LoRAModel":  # its checkpoint '' is the user's to fill in; it loads as built
        cfg.model.backbone.module.init_cfg = None
    build_and_forward(library, cfg, size, 120)


def test_a_model_written_as_a_display_is_swapped_to_another_type(tmp_path: Path) -> None:
    """``model = {'backbone': {...}, ...}``: the backbone is found and replaced there (it was refused as
    "no model.backbone in the config"), the neck updated in place, and the model runs."""
    source = Path(__file__).resolve().parent.parent / "fixtures/build/det_model_written_as_a_display/input/configs"
    model = tmp_path / "retinanet_display.py"
    shutil.copy(source / model.name, model)
    for backbone in (("mmdet.RegNet",), ("torchvision.resnet18",)):
        swapped(model, *backbone)
        cfg = load_config(model)
        for module in (cfg.get("custom_imports") or {}).get("imports", []):
            importlib.import_module(module)
        build_and_forward("mmdet", cfg, 256, 120)
    assert "'neck': {" in model.read_text()  # the display's layout stays where nothing had to change


@pytest.mark.parametrize(
    "backbone",
    [
        ("mmseg.VisionTransformer", "--set", "output_cls_token=false"),
        ("mmpretrain.VisionTransformer", "--set", "arch=small", "--set", "out_indices=[1,3,5,7]"),
    ],
    ids=lambda value: value[0],
)
def test_dpts_head_takes_map_and_class_token_pairs_only(tmp_path: Path, backbone: tuple[str, ...]) -> None:
    """DPT's head asserts a (map, class token) pair per level: a ViT that gives maps alone was written by
    ``--no-smoke`` and passed validate; its forward failed. Refused, and validate says so of such a file."""
    model = shipped("mmseg", "dpt/dpt_vit-b16_8xb2-160k_ade20k-512x512.py", tmp_path)
    before = model.read_text()
    result = CliRunner().invoke(main, ["build", "--backbone", *backbone, "--model", str(model), "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert "the backbone returns a tuple, and DPTHead takes several outputs per level" in result.stderr
    assert model.read_text() == before
    base = tmp_path / "_base_/models/dpt_vit-b16.py"
    assert "output_cls_token=True" in base.read_text()
    base.write_text(base.read_text().replace("output_cls_token=True", "output_cls_token=False"))
    checked = CliRunner().invoke(main, ["validate", str(model)])
    assert checked.exit_code == 1 and "DPTHead takes several outputs per level" in checked.stdout


def unused_backbone_parameters(library: str, cfg: Any, size: int = 128) -> int:
    """Trainable parameters of the built model's backbone that the model's outputs do not depend on (no
    gradient after one backward through everything its tensor mode returns): what DDP refuses without
    ``find_unused_parameters``. In eval mode (one image's batch norms), which takes the same paths."""
    import torch
    from mmengine.registry import init_default_scope

    init_default_scope(library)
    model = importlib.import_module(f"{library}.registry").MODELS.build(cfg.model).eval()
    outputs = model(torch.rand(1, 3, size, size), data_samples(library, size), mode="tensor")
    tensors = [t for t in _tensors_in(outputs) if t.requires_grad]
    sum(t.float().sum() for t in tensors).backward()
    return sum(p.numel() for p in model.backbone.parameters() if p.requires_grad and p.grad is None)


def _tensors_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [tensor for item in value for tensor in _tensors_in(item)]
    return [value] if hasattr(value, "requires_grad") else []


@pytest.mark.parametrize(
    ("library", "relative", "backbone", "unused"),
    [
        ("mmdet", "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py", ("mmdet.ResNet", "--set", "out_indices=[0,1]"), True),
        ("mmseg", "pspnet/pspnet_r101-d8_4xb2-40k_cityscapes-512x1024.py", ("mmpretrain.EfficientNet",), True),
        ("mmdet", "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py", ("mmdet.RegNet",), False),
        # RetinaNet's FPN starts at level 1: ConvNeXt's norm of level 0 is unread; ResNet has none
        ("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", ("mmpretrain.ConvNeXt", "--set", "arch=tiny"), True),
        ("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", ("mmdet.ResNet", "--set", "depth=18"), False),
        # the heads read HRNet's two deepest branches: the last fusions into the others are unread
        ("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", ("mmpretrain.HRNet",), True),
        # timm's EfficientNet features net computes its blocks past the deepest level LR-ASPP reads
        (
            "mmseg",
            "mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py",
            ("timm.efficientnet_b0",),
            True,
        ),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else None,
)
def test_parameters_no_output_read_reaches_get_find_unused_parameters(
    tmp_path: Path, library: str, relative: str, backbone: tuple[str, ...], unused: bool
) -> None:
    """A backbone with trainable parameters that no output the model reads depends on (stages after the
    deepest output read, a norm of a level the neck skips, fusions into unread branches) leaves them
    without gradient: distributed training stops at its second step unless the config says
    ``find_unused_parameters=True``, which build writes exactly where the built model has such parameters."""
    model = shipped(library, relative, tmp_path)
    said = swapped(model, *backbone)
    cfg = load_config(model)
    for module in (cfg.get("custom_imports") or {}).get("imports", []):
        importlib.import_module(module)
    size = 512 if "lraspp" in relative else 128  # LR-ASPP pools a 49-cell window at stride 8
    assert (unused_backbone_parameters(library, cfg, size) > 0) is unused
    assert bool(cfg.get("find_unused_parameters")) is unused
    assert ("get no gradient from the outputs the model reads" in said) is unused


def test_deeplabv3plus_reads_its_low_level_input_beside_its_in_index(tmp_path: Path) -> None:
    """DeepLabV3+'s head reads the first level through its ``c1`` skip beside its ``in_index`` level: with
    ConvNeXt giving exactly those two, every parameter gets a gradient, and no find_unused_parameters is
    written (the measurement once read ``in_index`` alone and blamed ConvNeXt's first norm)."""
    model = shipped("mmseg", "deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py", tmp_path)
    model.write_text(model.read_text().replace("auxiliary_head=dict(num_classes=150)", "auxiliary_head=None"))
    said = swapped(model, "mmpretrain.ConvNeXt", "--set", "out_indices=[0,3]")
    cfg = load_config(model)
    assert cfg.model.auxiliary_head is None and cfg.model.decode_head.c1_in_channels > 0
    importlib.import_module("mmpretrain.models")
    assert unused_backbone_parameters("mmseg", cfg) == 0
    assert "find_unused_parameters" not in said and not cfg.get("find_unused_parameters")


def test_a_head_reads_the_level_at_its_old_stride_when_the_backbone_gives_fewer(tmp_path: Path) -> None:
    """DeepLabV3+'s auxiliary head read the dilated ResNet's third stage (in_index 2): with ConvNeXt's
    stages 0, 2 and 3 it reads stage 2 (level 1, at stride 16), not level 2, which is the decode head's
    stage 3 now (the index was kept by its position)."""
    model = shipped("mmseg", "deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py", tmp_path)
    said = swapped(model, "mmpretrain.ConvNeXt", "--set", "out_indices=[0,2,3]")
    cfg = load_config(model)
    importlib.import_module("mmpretrain.models")
    from otxgen.schema.store import load_schema
    from otxgen.schema.table import ChannelTable

    stages = ChannelTable(load_schema("mmpretrain.ConvNeXt")).stages({"arch": "tiny"}) or []
    decode, auxiliary = cfg.model.decode_head, cfg.model.auxiliary_head
    assert (decode.in_index, auxiliary.in_index) == (2, 1)
    assert (decode.in_channels, auxiliary.in_channels) == (stages[3]["channels"], stages[2]["channels"])
    assert (
        "auxiliary_head.in_index=1 (was 2): the new backbone's levels at the strides its old ones were at (16)" in said
    )
    build_and_forward("mmseg", cfg, 128, 120)


def test_heads_of_several_levels_follow_their_strides_past_a_finer_level_in_front(tmp_path: Path) -> None:
    """EfficientNet asked for a stage at stride 2 in front of those at 4 to 32: UPerHead reads the levels
    at 4, 8, 16 and 32 it read before (1 to 4), not 2 to 16 (0 to 3, kept by position); DeepLabV3+'s
    low-level branch, which reads the first level whatever its stride, is said to read it at 2 now."""
    upernet = shipped("mmseg", "upernet/upernet_r50_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    stages = ("--set", "arch=b0", "--set", "out_indices=[1,2,3,4,6]")
    said = swapped(upernet, "mmpretrain.EfficientNet", *stages)
    cfg = load_config(upernet)
    assert list(cfg.model.decode_head.in_index) == [1, 2, 3, 4] and cfg.model.auxiliary_head.in_index == 3
    assert "decode_head.in_index=[1, 2, 3, 4] (was [0, 1, 2, 3])" in said
    importlib.import_module("mmpretrain.models")
    build_and_forward("mmseg", cfg, 128, 120)
    deeplab = shipped("mmseg", "deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path / "d")
    said = swapped(deeplab, "mmpretrain.EfficientNet", *stages)
    assert "reads the first level for its low-level branch, whatever its stride: at 2 now, at 4 before" in said
    assert load_config(deeplab).model.decode_head.in_index == 4


def test_stages_after_the_deepest_read_get_find_unused_parameters_with_a_tuple_only_backbone(tmp_path: Path) -> None:
    """mmseg's MobileNetV3 asserts its out_indices are a tuple: the measurement built it from their JSON
    list, failed, and said nothing; its layers past the deepest level read get no gradient."""
    model = shipped("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "mmseg.MobileNetV3", "--set", "out_indices=[1,2,7]")
    cfg = load_config(model)
    assert cfg.get("find_unused_parameters") is True and "get no gradient" in said
    assert unused_backbone_parameters("mmseg", cfg) > 0


def test_a_negative_out_index_is_written_as_a_list_the_backbone_can_count_from_the_end(tmp_path: Path) -> None:
    """mmpretrain's ConvNeXt turns a negative index into its stage in place: a tuple failed to build."""
    model = shipped("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    swapped(model, "mmpretrain.ConvNeXt", "--set", "out_indices=[-1]")
    cfg = load_config(model)
    assert cfg.model.backbone.out_indices == [-1]
    importlib.import_module("mmpretrain.models")
    build_and_forward("mmseg", cfg, 128, 120)


def test_out_indices_out_of_stage_order_are_measured_not_read_from_the_table(tmp_path: Path) -> None:
    """ConvNeXt gives the stages it is asked for in stage order (Fast-SCNN gives them as listed): for
    out_indices [3, 1] the table's rows in the listed order were written, and the heads got each other's
    widths; the outputs are now probed, and the model builds and runs."""
    from otxgen.schema.store import load_schema
    from otxgen.schema.table import ChannelTable, Unknown

    table = ChannelTable(load_schema("mmpretrain.ConvNeXt"))
    assert isinstance(table.outputs({"type": "mmpretrain.ConvNeXt", "out_indices": [3, 1]}), Unknown)
    model = shipped("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "mmpretrain.ConvNeXt", "--set", "out_indices=[3,1]")
    assert "backbone outputs (meta)" in said
    importlib.import_module("mmpretrain.models")
    build_and_forward("mmseg", load_config(model), 128, 120)


def test_a_vit_into_semantic_fpn_gets_the_pyramid_the_fpn_was_fed(tmp_path: Path) -> None:
    """Semantic FPN's ResNetV1c sets its strides (its table cannot say them): they are probed, and a
    plain ViT gets mmseg's MultiLevelNeck before the FPN at the factors that bring its one stride to the
    four the FPN and its head were built for (it got the FPN alone: levels at 16, 32, 64 and 128)."""
    model = shipped("mmseg", "sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py", tmp_path)
    built_for = list(load_config(model).model.decode_head.feature_strides)
    said = swapped(model, "mmseg.VisionTransformer")
    assert f"FPN reads strides {', '.join(map(str, built_for))}" in said
    cfg = load_config(model)
    pyramid, fpn = cfg.model.neck
    assert (pyramid.type, fpn.type) == ("MultiLevelNeck", "FPN")
    assert [16 / scale for scale in pyramid.scales] == built_for  # the ViT's stride 16 brought to each
    build_and_forward("mmseg", cfg, 128, 120)


def test_an_auxiliary_head_that_does_not_fit_fails_the_smoke_build(tmp_path: Path) -> None:
    """A segmentor's auxiliary heads run in training alone: neither tensor nor predict mode runs them, so
    an auxiliary head that does not fit what it reads (here behind the pyramid neck a ViT gets) passed
    the smoke-build. It runs them over what the model extracts, and names the head that failed."""
    model = shipped("mmseg", "upernet/upernet_r18_4xb4-20k_voc12aug-512x512.py", tmp_path)
    swapped(model, "mmseg.VisionTransformer")
    width = load_config(model).model.auxiliary_head.in_channels
    ok = CliRunner().invoke(main, ["smoke", str(model), "--input-size", "128"])
    assert ok.exit_code == 0, ok.output
    model.write_text(
        model.read_text().replace(f"auxiliary_head=dict(in_channels={width}", "auxiliary_head=dict(in_channels=999")
    )
    assert load_config(model).model.auxiliary_head.in_channels == 999
    failed = CliRunner().invoke(main, ["smoke", str(model), "--input-size", "128"])
    assert failed.exit_code == 1, failed.output
    assert "auxiliary_head FCNHead: RuntimeError" in failed.output


def test_a_model_whose_own_tensor_mode_fails_is_judged_in_predict_mode(tmp_path: Path) -> None:
    """PointRend's point head samples its points in prediction alone: mmseg's own tensor mode fails for any
    backbone (the untouched config too), so the smoke-build refused every PointRend swap; it runs predict."""
    import torch
    from mmengine.registry import init_default_scope

    model = shipped("mmseg", "point_rend/pointrend_r50_4xb4-160k_ade20k-512x512.py", tmp_path)
    init_default_scope("mmseg")
    untouched = importlib.import_module("mmseg.registry").MODELS.build(load_config(model).model).eval()
    with pytest.raises(TypeError), torch.no_grad():
        untouched(torch.rand(1, 3, 128, 128), None, mode="tensor")
    args = ["build", "--backbone", "mmseg.ResNetV1c", "--set", "depth=18", "--model", str(model), "--weights", "none"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "forward ok" in result.output and load_config(model).model.backbone.depth == 18


def test_a_head_built_for_pidnets_own_branches_is_a_refusal_with_its_reason(tmp_path: Path) -> None:
    model = shipped("mmseg", "pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "mmseg.ResNetV1c", "--set", "depth=18", "--model", str(model), "--no-smoke"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "PIDHead reads PIDNet's own outputs, which mmseg.ResNetV1c does not give" in result.stderr
    assert model.read_text() == before


def test_a_head_of_two_inputs_keeps_two_when_the_backbone_has_fewer_levels(tmp_path: Path) -> None:
    model = shipped("mmseg", "ann/ann_r101-d8_4xb4-160k_ade20k-512x512.py", tmp_path)
    swapped(model, "mmseg.MobileNetV3", "--set", "arch=large")
    cfg = load_config(model)
    assert len(cfg.model.decode_head.in_index) == 2  # ANN's low and high inputs
    build_and_forward("mmseg", cfg, 256, 120)


def test_a_preprocessor_given_by_name_is_updated_in_the_model_as_a_copy(tmp_path: Path) -> None:
    model = shipped("mmseg", "unet/unet-s5-d16_deeplabv3_4xb4-40k_stare-128x128.py", tmp_path)
    swapped(model, "mmdet.RegNet", weights="auto")  # RegNet's checkpoint wants BGR and its own mean/std
    text = model.read_text()
    assert "data_preprocessor = dict(size=crop_size)" in text  # the name stays as it was
    assert "data_preprocessor=dict(data_preprocessor, mean=[103.53, 116.28, 123.675]" in " ".join(text.split()).replace(
        "( ", "("
    )
    cfg = load_config(model)
    assert cfg.model.data_preprocessor.bgr_to_rgb is False and cfg.model.data_preprocessor.size == (128, 128)
    importlib.import_module("mmdet.models")
    build_and_forward("mmseg", cfg, 128, 120)


def test_a_neck_that_builds_its_own_backbone_is_a_refusal(tmp_path: Path) -> None:
    model = shipped("mmdet", "detectors/detectors_htc-r50_1x_coco.py", tmp_path, also=("htc", "cascade_rcnn"))
    result = CliRunner().invoke(main, ["build", "--backbone", "mmdet.RegNet", "--model", str(model), "--no-smoke"])
    assert result.exit_code == 2
    assert "model.neck.rfp_backbone is a second backbone (DetectoRS_ResNet)" in result.stderr


def test_mask2formers_panoptic_head_reads_the_backbone_and_follows_it(tmp_path: Path) -> None:
    model = shipped("mmdet", "mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py", tmp_path)
    swapped(model, "mmdet.RegNet")
    cfg = load_config(model)
    assert list(cfg.model.panoptic_head.in_channels) == [32, 64, 160, 384]
    build_and_forward("mmdet", cfg, 128, 300)


def test_a_neck_that_takes_a_tuple_keeps_a_tuple(tmp_path: Path) -> None:
    model = shipped("mmseg", "fastfcn/fastfcn_r50-d32_jpu_aspp_4xb2-80k_cityscapes-512x1024.py", tmp_path)
    swapped(model, "mmseg.ResNetV1c", "--set", "depth=18")
    cfg = load_config(model)
    assert isinstance(cfg.model.neck.in_channels, tuple)
    build_and_forward("mmseg", cfg, 256, 300)


def test_a_list_of_heads_written_whole_keeps_a_computed_value(tmp_path: Path) -> None:
    model = shipped("mmseg", "ocrnet/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    swapped(model, "timm.resnet18")
    cfg = load_config(model)
    assert cfg.model.decode_head[0].channels == sum([18, 36, 72, 144])  # sum(...) in the shipped base
    build_and_forward("mmseg", cfg, 256, 300)


def test_knets_kernel_generator_reads_the_backbone_and_follows_it(tmp_path: Path) -> None:
    model = shipped("mmseg", "knet/knet-s3_r50-d8_upernet_8xb2-adamw-80k_ade20k-512x512.py", tmp_path)
    swapped(model, "mmdet.ResNet", "--set", "depth=18")
    cfg = load_config(model)
    assert list(cfg.model.decode_head.kernel_generate_head.in_channels) == [64, 128, 256, 512]
    importlib.import_module("mmdet.models")
    build_and_forward("mmseg", cfg, 256, 300)


def test_yolofs_dilated_encoder_keeps_the_anchors_stride_or_refuses(tmp_path: Path) -> None:
    model = shipped("mmdet", "yolof/yolof_r50-c5_8xb8-1x_coco.py", tmp_path)
    args = ["build", "--backbone", "mmseg.MobileNetV3", "--set", "arch=large", "--model", str(model), "--no-smoke"]
    refused = CliRunner().invoke(main, args)
    assert (
        refused.exit_code == 2 and "anchor_generator.strides[0] (through DilatedEncoder) expects 32" in refused.stderr
    )
    swapped(model, "mmdet.RegNet")
    cfg = load_config(model)
    assert tuple(cfg.model.backbone.out_indices) == (3,)
    build_and_forward("mmdet", cfg, 256, 300)


def test_a_classifier_whose_neck_reads_the_backbone_is_checked_at_the_neck(tmp_path: Path) -> None:
    """mmpretrain's HRNet classifiers fuse the four levels in a neck (HRFuseScales) before pooling: the
    neck reads the backbone, the head reads the neck."""
    model = shipped("mmpretrain", "hrnet/hrnet-w64_4xb32_in1k.py", tmp_path)
    swapped(model, "mmpretrain.HRNet", "--set", "arch=w18")
    cfg = load_config(model)
    assert list(cfg.model.neck[0].in_channels) == [18, 36, 72, 144]
    build_and_forward("mmpretrain", cfg, 224, 300)


def test_swapping_back_to_the_configs_own_library_leaves_no_empty_custom_imports(tmp_path: Path) -> None:
    """A -> B -> A: the ``custom_imports`` the swap to timm added is removed on the way back, not left
    as ``dict(imports=[], ...)``; a base's own imports would keep an emptied list (it replaces theirs)."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    original = model.read_text()
    build = ("build", "--model", str(model), "--no-smoke", "--weights", "none")
    assert CliRunner().invoke(main, [*build, "--backbone", "timm.resnet18"]).exit_code == 0
    assert load_config(model).custom_imports == {"imports": ["otxgen.libraries.timm"], "allow_failed_imports": False}
    back = CliRunner().invoke(main, [*build, "--backbone", "mmdet.ResNet", "--set", "depth=50"])
    assert back.exit_code == 0, back.output
    assert "custom_imports" not in model.read_text() and "custom_imports" not in original
    assert load_config(model).get("custom_imports") is None
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0


def test_a_swap_back_to_the_bases_backbone_gives_the_file_back(tmp_path: Path) -> None:
    """A -> B -> A is the identity where it can be: back to the base's backbone and weights, every
    value the first swap wrote is what the ``_base_`` chain gives again, so each leaves the file (the
    backbone written whole under ``_delete_``, the neck's inputs, ``custom_imports``), and the file is
    byte for byte the shipped one."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    original = model.read_text()
    build = ("build", "--model", str(model), "--no-smoke")
    there = CliRunner().invoke(main, [*build, "--backbone", "timm.resnet18"])
    assert there.exit_code == 0 and model.read_text() != original, there.output
    back = CliRunner().invoke(  # the base's own checkpoint, read from it rather than typed
        main, [*build, "--backbone", "mmdet.ResNet", "--set", "depth=50", "--weights", _base_checkpoint(tmp_path)]
    )
    assert back.exit_code == 0, back.output
    assert model.read_text() == original
    again = [*build, "--backbone", "mmdet.ResNet", "--set", "depth=50", "--weights", _base_checkpoint(tmp_path)]
    assert CliRunner().invoke(main, [*again, "--check"]).exit_code == 0


def test_a_backbone_written_whole_that_is_the_bases_again_leaves_the_file(tmp_path: Path) -> None:
    """A -> B -> A' -> A, where A' is the base's type with other weights: the file's own backbone (written
    whole under ``_delete_`` by the first swap) is edited in place on the way back, and once every
    argument is the base's again it leaves the file, ``_delete_`` with it: byte for byte the shipped one."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    original = model.read_text()
    build = ("build", "--model", str(model), "--no-smoke")
    resnet = ("--backbone", "mmdet.ResNet", "--set", "depth=50")
    assert CliRunner().invoke(main, [*build, "--backbone", "mmdet.RegNet"]).exit_code == 0
    other = CliRunner().invoke(main, [*build, *resnet, "--weights", "none"])
    assert other.exit_code == 0, other.output
    assert "_delete_=True" in model.read_text(), "the base's type, written whole: the case under test"
    back = CliRunner().invoke(main, [*build, *resnet, "--weights", _base_checkpoint(tmp_path)])
    assert back.exit_code == 0, back.output
    assert model.read_text() == original


def _base_checkpoint(root: Path) -> str:
    base = load_config(root / "_base_" / "models" / "retinanet_r50_fpn.py")
    checkpoint: str = base.model.backbone.init_cfg.checkpoint
    return checkpoint


def test_a_dilated_segmentation_backbone_says_the_maps_come_coarser(tmp_path: Path) -> None:
    """A dilated ResNet (``strides``/``dilations``: maps at 4, 8, 8, 8) has no stride table to read: its
    strides are probed to say that the new backbone's deepest maps come at stride 32, 4x coarser, and
    how to keep them finer; the model builds and runs as written."""
    model = shipped("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "timm.resnet18")
    assert "the old ResNetV1c gave its deepest maps at stride 8 (dilated), the new backbone at 32" in said
    assert "4x coarser maps; set the new backbone's own dilation or output-stride arguments" in said
    cfg = load_config(model)
    importlib.import_module("otxgen.libraries.timm")
    build_and_forward("mmseg", cfg, 128, 120)


def test_a_segmentor_given_stages_at_other_strides_says_so(tmp_path: Path) -> None:
    """Semantic FPN was built for maps at the strides its head's ``feature_strides`` keep; a dilated
    MobileNetV3 has no stage at the coarser ones, so its own outputs are kept and the line says at
    which strides the model now reads them (it runs: the heads resize what they read)."""
    model = shipped("mmseg", "sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py", tmp_path)
    built_for = list(load_config(model).model.decode_head.feature_strides)
    said = swapped(model, "mmseg.MobileNetV3")
    line = next(line for line in said.splitlines() if "the neck expects strides" in line)
    assert f"the neck expects strides {', '.join(map(str, built_for))}, and mmseg.MobileNetV3 has no stage at" in line
    cfg = load_config(model)
    assert "out_indices" not in cfg.model.backbone  # its own choice, kept and said
    build_and_forward("mmseg", cfg, 128, 120)


def test_heads_built_for_strides_out_of_order_say_what_they_get(tmp_path: Path) -> None:
    """Fast-SCNN's heads read its outputs at strides 8, 32 and 8: no stages are chosen out of order, so
    ConvNeXt's own output is kept, and the line says at which stride the heads now read it."""
    model = shipped("mmseg", "fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "mmpretrain.ConvNeXt")
    line = next(line for line in said.splitlines() if "the heads expect strides" in line)
    assert "and no stages are chosen for them out of order: mmpretrain.ConvNeXt's own outputs are kept" in line
    cfg = load_config(model)
    importlib.import_module("mmpretrain.models")
    build_and_forward("mmseg", cfg, 128, 120)


def test_weights_none_on_the_way_back_returns_the_bases_normalisation(tmp_path: Path) -> None:
    """A -> RegNet (its caffe-style checkpoint sets the preprocessor: BGR, its mean and std) -> A with
    ``--weights none``: the normalisation was RegNet's checkpoint's, which the new backbone does not
    load, so the preprocessor is the base's again (the file no longer sets it); a preprocessor the
    user set to something else would stay."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    base = load_config(model).model.data_preprocessor
    build = ("build", "--model", str(model), "--no-smoke")
    assert CliRunner().invoke(main, [*build, "--backbone", "mmdet.RegNet"]).exit_code == 0
    there = load_config(model).model.data_preprocessor
    assert (there.mean, there.bgr_to_rgb) != (base.mean, base.bgr_to_rgb)
    back = CliRunner().invoke(main, [*build, "--backbone", "mmdet.ResNet", "--set", "depth=50", "--weights", "none"])
    assert back.exit_code == 0, back.output
    assert "the base's again; the old weights (open-mmlab://regnetx_400mf) set it" in back.stderr
    assert load_config(model).model.data_preprocessor == base
    assert "data_preprocessor" not in model.read_text()
    assert CliRunner().invoke(main, [*build, "--backbone", "mmdet.RegNet"]).exit_code == 0
    model.write_text(model.read_text().replace("103.53, 116.28, 123.675", "1.0, 2.0, 3.0"))  # the user's own mean
    again = CliRunner().invoke(main, [*build, "--backbone", "mmdet.ResNet", "--set", "depth=50", "--weights", "none"])
    assert again.exit_code == 0, again.output
    assert load_config(model).model.data_preprocessor.mean == [1.0, 2.0, 3.0]


def test_ocrnets_cascade_heads_read_one_stride_or_the_swap_is_refused(tmp_path: Path) -> None:
    """OCRNet's OCR head takes the FCN head's output beside its own input, so the two levels they read
    must come at one stride: a plain ResNet gives 16 and 32 (the dilated one gave 8 and 8), a refusal
    that says so; out_indices that give one stride build and run."""
    model = shipped("mmseg", "ocrnet/ocrnet_r101-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    build = ("build", "--model", str(model), "--weights", "none", "--backbone", "timm.resnet18")
    refused = CliRunner().invoke(main, [*build, "--no-smoke"])
    assert refused.exit_code == 2, refused.output
    assert "the cascade's heads combine their maps, so they must read one stride" in refused.stderr
    assert "FCNHead (output 2) at stride 16, OCRHead (output 3) at stride 32" in refused.stderr
    said = swapped(model, "timm.resnet18", "--set", "out_indices=[0, 1, 2, 2]")
    assert "Smoke-build" in said
    cfg = load_config(model)
    importlib.import_module("otxgen.libraries.timm")
    build_and_forward("mmseg", cfg, 128, 120)


def test_a_same_type_swap_to_other_stages_picks_them_at_the_strides_the_old_indices_gave(tmp_path: Path) -> None:
    """MobileNetV3 large -> small in an LR-ASPP config: large's out_indices 1, 3, 16 (strides 2, 4, 8) would
    index other stages of small; the swap takes small's stages at those strides, which are the ones mmseg's
    own small config reads, with its head's channels, and the model runs."""
    model = shipped("mmseg", "mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "mmseg.MobileNetV3", "--set", "arch=small")
    small = load_config(tmp_path / "mobilenet_v3" / "mobilenet-v3-d8-s_lraspp_4xb4-320k_cityscapes-512x1024.py")
    cfg = load_config(model)
    assert list(cfg.model.backbone.out_indices) == list(small.model.backbone.out_indices)
    assert list(cfg.model.decode_head.in_channels) == list(small.model.decode_head.in_channels)
    assert "the stages at the strides (2, 4, 8) the old (1, 3, 16) gave" in said
    build_and_forward("mmseg", cfg, 512, 120)  # LR-ASPP pools a 49-cell window at stride 8: 392 px at least


def test_a_vit_given_more_blocks_reads_them_at_the_same_depths(tmp_path: Path) -> None:
    """BEiT-B's UPerNet config given 24 blocks: its out_indices 3, 5, 7, 11 would leave the 12 new blocks
    without a gradient; the swap reads the same depths of 24, which are what mmseg's own BEiT-L config reads."""
    model = shipped("mmseg", "beit/beit-base_upernet_8xb2-160k_ade20k-640x640.py", tmp_path)
    args = ["build", "--backbone", "mmseg.BEiT", "--set", "num_layers=24", "--model", str(model), "--no-smoke"]
    result = CliRunner().invoke(main, [*args, "--weights", "none"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0
    large = load_config(tmp_path / "beit" / "beit-large_upernet_8xb1-amp-160k_ade20k-640x640.py")
    cfg = load_config(model)
    assert list(cfg.model.backbone.out_indices) == list(large.model.backbone.out_indices)
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == large.optim_wrapper.paramwise_cfg.num_layers


def test_a_same_type_swap_keeps_what_the_user_did_not_set_and_the_weights_that_still_fit(tmp_path: Path) -> None:
    """``mmdet.ResNet --set frozen_stages=2`` on ResNet-101 Faster R-CNN: ``depth`` is required, and otxgen
    starts a backbone it names from depth 18, but the config's own 101 is what a same-type swap keeps; the
    parameters stay as they are, so the config's own checkpoint stays too (``--weights auto``)."""
    model = shipped("mmdet", "faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py", tmp_path)
    before = load_config(model)
    said = swapped(model, "mmdet.ResNet", "--set", "frozen_stages=2", weights="auto")
    cfg = load_config(model)
    assert cfg.model.backbone.depth == before.model.backbone.depth
    assert cfg.model.backbone.init_cfg == before.model.backbone.init_cfg
    assert cfg.model.backbone.frozen_stages == 2 and cfg.model.neck.in_channels == before.model.neck.in_channels
    assert "the new arguments leave the backbone's parameters as they are: its own weights (init_cfg) stay" in said
    assert "Backbone config: {'type': 'mmdet.ResNet', 'depth': 101, 'frozen_stages': 2}" in said  # what it got


def test_a_vit_given_another_drop_path_keeps_the_models_pretrained_weights(tmp_path: Path) -> None:
    model = shipped("mmseg", "vit/vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py", tmp_path)
    before = load_config(model)
    args = ["build", "--backbone", "mmseg.VisionTransformer", "--set", "drop_path_rate=0.2", "--model", str(model)]
    assert CliRunner().invoke(main, [*args, "--no-smoke"]).exit_code == 0
    cfg = load_config(model)
    assert before.model.pretrained and cfg.model.pretrained == before.model.pretrained
    assert cfg.model.backbone.drop_path_rate == 0.2


def test_auto_weights_are_none_where_the_arguments_give_other_parameters_than_any_published_checkpoint(
    tmp_path: Path,
) -> None:
    """MobileNetV2 at ``widen_factor=1.4`` has other parameter shapes than the width-1.0 checkpoint, the only
    one published: none is written (it would load nothing), with a line saying why; the model runs."""
    model = shipped("mmdet", "yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py", tmp_path)
    said = swapped(model, "mmdet.MobileNetV2", "--set", "widen_factor=1.4", weights="auto")
    assert "no published checkpoint fits this mmdet.MobileNetV2: with widen_factor=1.4" in said
    cfg = load_config(model)
    assert cfg.model.backbone.init_cfg is None and cfg.model.backbone.widen_factor == 1.4
    build_and_forward("mmdet", cfg, 320, 120)


def test_out_indices_a_backbone_does_not_count_from_the_end_are_refused_at_the_set(tmp_path: Path) -> None:
    """mmdet's ResNet takes no negative ``out_indices`` (it gives nothing for -1); the table would count -1 as
    the last stage, so a negative index is probed, and the refusal names the ``--set`` and the range."""
    model = shipped("mmdet", "yolof/yolof_r50-c5_8xb8-1x_coco.py", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "mmdet.ResNet", "--set", "depth=50", "--set", "out_indices=[-1]"]
    result = CliRunner().invoke(main, [*args, "--model", str(model), "--no-smoke"])
    assert result.exit_code == 2
    assert "--set out_indices=[-1]: backbone.out_indices: mmdet.ResNet gives no outputs with [-1]" in result.stderr
    assert "it counts its stages 0..3" in result.stderr and model.read_text() == before


def test_a_caffe_style_resnet_made_deeper_gets_a_caffe_checkpoint(tmp_path: Path) -> None:
    """Faster R-CNN's caffe-style ResNet-50 given ``depth=101``: ``style='caffe'`` stays, so ``--weights auto``
    takes a checkpoint trained as a caffe-style network, the one mmdet's own R-101 caffe config starts from
    (torchvision's, the best rated, is trained in pytorch style and with another normalisation)."""
    model = shipped("mmdet", "faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.py", tmp_path)
    swapped(model, "mmdet.ResNet", "--set", "depth=101", weights="auto")
    theirs = load_config(tmp_path / "faster_rcnn" / "faster-rcnn_r101-caffe_fpn_1x_coco.py")
    cfg = load_config(model)
    assert cfg.model.backbone.style == "caffe" and cfg.model.backbone.depth == 101
    assert cfg.model.backbone.init_cfg.checkpoint == theirs.model.backbone.init_cfg.checkpoint
    assert cfg.model.data_preprocessor.mean == theirs.model.data_preprocessor.mean


def test_a_module_config_the_backbone_does_not_construct_with_is_refused_at_its_set(tmp_path: Path) -> None:
    """``dcn`` on a ResNet-18: the stride table says its outputs, but mmdet's basic blocks assert "Not
    implemented yet." as it constructs; build (even without the smoke-build) constructs a backbone given a
    module's config, and names the argument without which it would."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    before = model.read_text()
    dcn = 'dcn={"type": "DCN", "deform_groups": 1, "fallback_on_stride": false}'
    args = ["build", "--backbone", "mmdet.ResNet", "--set", "depth=18", "--set", dcn]
    result = CliRunner().invoke(main, [*args, "--set", "stage_with_dcn=[false,true,true,true]", "--model", str(model)])
    assert result.exit_code == 2 and model.read_text() == before
    assert f"--set {dcn}: backbone.dcn: mmdet.ResNet does not build with dcn=" in result.stderr
    assert "Not implemented yet." in result.stderr


def test_head_channels_given_by_an_expression_are_computed_and_written_over(tmp_path: Path) -> None:
    """``in_channels=chans[-1]`` is 2048 to mmengine: the view computes it, the swap writes the new number
    over it (it left both heads at the old widths, and the model did not run); an expression the view does
    not compute is a refusal at it, not a silent skip."""
    base = shipped("mmseg", "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py", tmp_path)
    child = base.with_name("pspnet_chans.py")
    child.write_text(
        f"_base_ = './{base.name}'\nchans = (256, 512, 1024, 2048)\n"
        "model = dict(decode_head=dict(in_channels=chans[-1]), auxiliary_head=dict(in_channels=chans[2]))\n"
    )
    swapped(child, "mmseg.MobileNetV2")
    cfg = load_config(child)
    assert (cfg.model.decode_head.in_channels, cfg.model.auxiliary_head.in_channels) == (320, 96)
    build_and_forward("mmseg", cfg, 256, 120)
    opaque = base.with_name("pspnet_opaque.py")
    opaque.write_text(
        f"_base_ = './{base.name}'\nmodel = dict(decode_head=dict(in_channels=[c for c in (1, 2048) if c > 1][0]))\n"
    )
    result = CliRunner().invoke(main, ["build", "--backbone", "mmseg.MobileNetV2", "--model", str(opaque)])
    assert result.exit_code == 2 and f"{opaque}:2:" in result.stderr
    assert "model.decode_head.in_channels is '[c for c in (1, 2048) if c > 1][0]', which otxgen" in result.stderr


def test_a_reading_argument_set_anew_takes_the_checkpoint_trained_that_way(tmp_path: Path) -> None:
    """``--set style=caffe`` on RetinaNet's pytorch-style ResNet-50 changes no parameter shape, but
    torchvision's checkpoint is another network's for it: the caffe-style one mmdet's own caffe RetinaNet
    starts from is written, with its normalisation."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    swapped(model, "mmdet.ResNet", "--set", "style=caffe", weights="auto")
    theirs = load_config(tmp_path / "retinanet" / "retinanet_r50-caffe_fpn_1x_coco.py")
    cfg = load_config(model)
    assert cfg.model.backbone.depth == 50 and cfg.model.backbone.style == "caffe"
    assert cfg.model.backbone.init_cfg.checkpoint == theirs.model.backbone.init_cfg.checkpoint
    assert cfg.model.data_preprocessor.std == theirs.model.data_preprocessor.std


def test_a_checkpoint_that_lacks_only_the_norms_out_indices_add_still_fits(tmp_path: Path) -> None:
    """mmdet's ConvNeXt-T Mask R-CNN given ``arch=small``: the backbone it builds has a norm per output
    (``out_indices``) that the published classifier checkpoint lacks; that checkpoint still fits, and
    ConvNeXt-S's is written (it trained from scratch)."""
    model = shipped("mmdet", "convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py", tmp_path)
    args = ["build", "--backbone", "mmpretrain.ConvNeXt", "--set", "arch=small", "--model", str(model), "--no-smoke"]
    assert CliRunner().invoke(main, args).exit_code == 0
    cfg = load_config(model)
    assert cfg.model.backbone.arch == "small" and "convnext-small" in cfg.model.backbone.init_cfg.checkpoint


def test_out_indices_a_user_gives_at_other_strides_than_the_neck_expects_are_said(tmp_path: Path) -> None:
    """PointRend's FPN and FPNHead were built for strides 4 to 32. Swin's last three stages (8 to 32), set
    by the user, are kept, and the model runs (the heads resize what they read), but a ``[!]`` line says
    the strides the neck expects; the strides come from Swin's table, not typed here."""
    model = shipped("mmseg", "point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py", tmp_path)
    said = swapped(model, "mmpretrain.SwinTransformer", "--set", "out_indices=[1,2,3]")
    from otxgen.schema.store import load_schema
    from otxgen.schema.table import ChannelTable

    stages = ChannelTable(load_schema("mmpretrain.SwinTransformer")).stages({}) or []
    strides = ", ".join(str(stages[index]["stride"]) for index in (1, 2, 3))
    assert f"[!] {model.name}: out_indices=(1, 2, 3) give strides {strides}, and the neck expects 4, 8, 16, 32" in said
    import torch
    from mmengine.registry import init_default_scope

    importlib.import_module("mmpretrain.models")
    init_default_scope("mmseg")  # PointRend runs in predict mode only: its FPN and FPNHead are what strides feed
    net = importlib.import_module("mmseg.registry").MODELS.build(load_config(model).model).eval()
    with torch.no_grad():
        mapped = net.decode_head[0](net.extract_feat(torch.rand(1, 3, 224, 224)))  # Swin's windows: 7 at 32
    assert mapped.shape[-1] == 224 // stages[1]["stride"]


def test_a_diff_on_stdout_is_the_diff_alone_when_a_backbone_is_built(tmp_path: Path) -> None:
    """mmpretrain's TIMMBackbone logs as it is built, on mmengine's logger, which writes to stdout: the
    probe of the old backbone keeps it off stdout, which carries the diff (``--diff > change.patch``).
    A process of its own, with a cache of its own: the probe runs, and the logger is made in it."""
    import os
    import subprocess
    import sys

    model = shipped("mmdet", "timm_example/retinanet_timm-tv-resnet50_fpn_1x_coco.py", tmp_path)
    command = [sys.executable, "-m", "otxgen", "build", "--backbone", "timm.resnet18", "--model", str(model)]
    command += ["--no-smoke", "--no-backbone-yaml", "--diff"]
    env = {**os.environ, "OTXGEN_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- ") and "mmengine" not in done.stdout, done.stdout[:300]


@pytest.mark.parametrize("backbone", ["mmpretrain.ConvNeXt", "mmpretrain.MobileNetV2"])
def test_a_classifier_neck_that_fuses_levels_gets_them_at_its_strides(tmp_path: Path, backbone: str) -> None:
    """HRNet's classifier fuses its four branches in HRFuseScales before pooling: a new backbone gives
    feature maps (ConvNeXt pools by default) at the strides the neck fused, one per branch, so the
    model runs; with ConvNeXt's pooled output or its last stage alone the neck failed."""
    model = shipped("mmpretrain", "hrnet/hrnet-w18_4xb32_in1k.py", tmp_path)
    said = swapped(model, backbone)
    cfg = load_config(model)
    from otxgen.schema.store import load_schema
    from otxgen.schema.table import ChannelTable

    table = ChannelTable(load_schema(backbone))
    widths = [row["channels"] for row in table.stages(cfg.model.backbone) or []]
    fused = cfg.model.neck[0]
    assert fused.type == "HRFuseScales" and len(fused.in_channels) == 4
    assert list(fused.in_channels) == [widths[i] for i in cfg.model.backbone.out_indices]
    assert f"keeps the strides its neck expects ({_hrnet_strides()})" in said
    build_and_forward("mmpretrain", cfg, 224, 120)


@pytest.mark.parametrize(
    "backbone",
    [("mmpretrain.VisionTransformer", "--set", "arch=s"), ("mmpretrain.ResNet", "--set", "out_indices=[1,2,3]")],
    ids=str,
)
def test_a_classifier_neck_that_fuses_levels_refuses_other_strides(tmp_path: Path, backbone: tuple[str, ...]) -> None:
    """HRFuseScales has a branch for each of HRNet's four levels, each at twice the stride of the one
    before: a ViT's one level, or the user's three stages, are refused before anything is written (the
    model built, and failed in its neck, under --no-smoke)."""
    model = shipped("mmpretrain", "hrnet/hrnet-w18_4xb32_in1k.py", tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*.py")}
    argv = ["build", "--backbone", *backbone, "--model", str(model), "--weights", "none", "--no-smoke"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert f"the neck HRFuseScales fuses the old backbone's levels at strides {_hrnet_strides()}" in result.stderr
    assert {path: path.read_bytes() for path in tmp_path.rglob("*.py")} == before


def _hrnet_strides() -> str:
    """The strides of mmpretrain's HRNet-W18 levels, as its schema's table gives them."""
    from otxgen.schema.store import StoreCatalog
    from otxgen.schema.table import ChannelTable

    table = ChannelTable.for_config({"type": "HRNet", "arch": "w18"}, "mmpretrain", StoreCatalog())
    return ", ".join(map(str, table.strides() or []))


def test_a_swap_that_writes_a_valid_backbone_never_imports_jsonschema(tmp_path: Path) -> None:
    """The point of ``conforms``: a build of a shipped config (checked by validate before it writes)
    and validate of the result run without jsonschema, whose import costs as much as the swap; an error
    still gets jsonschema's message."""
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    swap = ["build", "--backbone", "mmdet.RegNet", "--model", str(model), "--no-smoke", "--no-backbone-yaml"]
    for args, code in ((swap, 0), (["validate", str(model)], 0)):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "otxgen", *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == code, done.stdout + done.stderr[-2000:]
        assert "jsonschema" not in done.stderr
    bad = tmp_path / "backbone.yaml"
    bad.write_text("backbone:\n  type: mmdet.RegNet\n  arch: regnetx_3.2gf\n  out_indices: [0, '1']\n")
    done = subprocess.run(
        [sys.executable, "-m", "otxgen", "validate", str(bad)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{bad}:4:" in done.stdout and "'1' is not of type 'integer'" in done.stdout


@pytest.mark.parametrize("weights", ["none", "auto"])
def test_a_switch_that_loaded_weights_is_switched_off_not_emptied(tmp_path: Path, weights: str) -> None:
    """A same-type swap that drops the old weights writes what loads none: TIMMBackbone's ``pretrained``
    is a switch, whose off is False (None was written, which validate rejects: the build refused)."""
    model = shipped("mmdet", "timm_example/retinanet_timm-tv-resnet50_fpn_1x_coco.py", tmp_path)
    swapped(model, "mmpretrain.TIMMBackbone", "--set", "model_name=resnet18", weights=weights)
    cfg = load_config(model)
    assert cfg.model.backbone.pretrained is False
    assert cfg.model.backbone.model_name == "resnet18"
    build_and_forward("mmdet", cfg, 256, 120)


@pytest.mark.parametrize("backbone", ["mmpretrain.TIMMBackbone", "torchvision.resnet18"])
def test_a_switch_set_on_is_the_libraries_own_weights(tmp_path: Path, backbone: str) -> None:
    """``--set pretrained=True`` where ``pretrained`` is a switch asks the library for its own weights when
    the model is built for training: it is no address to check, and the probes build the backbone without
    it (with it, timm fetches from the network, which is not here)."""
    model = shipped("mmdet", "timm_example/retinanet_timm-tv-resnet50_fpn_1x_coco.py", tmp_path)
    name = ("--set", "model_name=resnet18") if backbone.endswith("TIMMBackbone") else ()
    result = CliRunner().invoke(
        main, ["build", "--backbone", backbone, *name, "--set", "pretrained=True", "--model", str(model), "--no-smoke"]
    )
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0
    assert load_config(model).model.backbone.pretrained is True


@pytest.mark.parametrize("library", ["mmdet", "mmseg"])
def test_the_most_levels_an_fpn_takes_is_what_the_library_builds(library: str) -> None:
    """``facts.consumers.most_levels`` against the real FPN of each library: with ``end_level`` -1 it builds
    from five inputs exactly where the smoke-build's count check passes five levels."""
    from mmengine.registry import init_default_scope

    from otxgen.smoke.check import check_levels
    from otxgen.smoke.expect import expectation

    init_default_scope(library)
    registry = importlib.import_module(f"{library}.registry").MODELS
    five = [(1, c, 64 // s, 64 // s) for c, s in ((8, 2), (8, 4), (8, 8), (8, 16), (8, 32))]
    for num_outs, start_level in itertools.product((3, 4, 5), (0, 1, 2)):
        neck = {"type": "FPN", "in_channels": [8] * 5, "out_channels": 8, "num_outs": num_outs}
        neck["start_level"] = start_level
        try:
            registry.build(neck)
            builds = True
        except AssertionError:
            builds = False
        fits = check_levels(five, 64, expectation({"neck": neck}, "segmentation")).ok
        assert builds == fits, (neck, builds, fits)


def test_a_switch_on_by_default_is_turned_off_for_no_weights_and_an_fpn_gets_no_more_levels_than_it_takes(
    tmp_path: Path,
) -> None:
    """mmseg's TIMMBackbone fetches timm's weights unless ``pretrained=False``: ``--weights none`` writes it
    (without, training would fetch the weights the build said it would not). Its five levels (a stride-2
    one first) are more than the FPN's ``num_outs=4``: refused with the reason, where it was written and
    then asserted as it was built; four chosen by the user build and run."""
    model = shipped("mmseg", "sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py", tmp_path)
    before = model.read_text()
    args = ["build", "--backbone", "mmseg.TIMMBackbone", "--set", "model_name=resnet18", "--model", str(model)]
    refused = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert refused.exit_code == 2, refused.output
    assert "neck FPN takes at most 4 (num_outs=4 from start_level=0)" in refused.stderr
    assert model.read_text() == before
    swapped(model, "mmseg.TIMMBackbone", "--set", "model_name=resnet18", "--set", "out_indices=[1,2,3,4]")
    cfg = load_config(model)
    assert cfg.model.backbone.pretrained is False
    build_and_forward("mmseg", cfg, 256, 120)


def test_the_smoke_build_turns_a_weights_switch_off_and_fetches_nothing(tmp_path: Path) -> None:
    """mmdet's own TIMMBackbone example asks timm for its weights (``pretrained=True``) as the model is
    built: the smoke-build builds it without them, and says so (there is no network here to fetch them)."""
    model = shipped("mmdet", "timm_example/retinanet_timm-tv-resnet50_fpn_1x_coco.py", tmp_path)
    result = CliRunner().invoke(main, ["smoke", str(model), "--input-size", "128"])
    assert result.exit_code == 0, result.output
    assert "built with pretrained=False: the backbone would fetch its library's weights" in result.stdout


def test_weights_and_the_backbones_own_switch_may_not_disagree(tmp_path: Path) -> None:
    model = shipped("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", tmp_path)
    args = ["build", "--backbone", "torchvision.resnet18", "--set", "pretrained=True", "--model", str(model)]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert "--weights none and the backbone's own pretrained=True both say which weights" in result.stderr


def test_a_dropped_weight_of_a_switch_on_by_default_is_written_off() -> None:
    from otxgen.app.carry import changes
    from otxgen.schema.store import load_schema

    schema = load_schema("mmseg.TIMMBackbone")
    assert schema["properties"]["pretrained"]["default"] is True  # on unless a config turns it off
    old = {"type": "TIMMBackbone", "model_name": "resnet50", "pretrained": True}
    assert changes(old, {"type": "TIMMBackbone", "model_name": "resnet18"}, schema)["pretrained"] is False


def test_a_switch_on_by_default_is_said_where_the_config_builds_it_on(tmp_path: Path) -> None:
    """``--weights auto`` leaves mmseg's TIMMBackbone fetching timm's weights, said for the config; a
    rebuild of a config that turned it off keeps it off, and says nothing of fetching."""
    model = shipped("mmseg", "sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py", tmp_path)
    fetched = "weights: pretrained is on by default: the library's own, fetched as the backbone is built"
    args = ["--set", "out_indices=(1,2,3,4)"]
    said = swapped(model, "mmseg.TIMMBackbone", "--set", "model_name=resnet18", *args, weights="auto")
    assert fetched in said
    assert "pretrained" not in load_config(model).model.backbone
    swapped(model, "mmseg.TIMMBackbone", "--set", "model_name=resnet34", weights="none")
    said = swapped(model, "mmseg.TIMMBackbone", "--set", "model_name=resnet50", weights="auto")
    assert fetched not in said
    assert load_config(model).model.backbone.pretrained is False


CAFFE_R50 = ("mmdet.ResNet", "--set", "depth=50", "--set", "style=caffe")


@pytest.mark.parametrize(
    ("library", "relative", "backbone"),
    [
        ("mmdet", "yolo/yolov3_d53_8xb8-320-273e_coco.py", ("mmdet.RegNet",)),
        ("mmdet", "ssd/ssd300_coco.py", ("torchvision.resnet18",)),
        ("mmseg", "mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py", ("mmseg.ResNetV1c", "--set", "depth=18")),
        ("mmseg", "segformer/segformer_mit-b5_8xb2-160k_ade20k-640x640.py", ("mmdet.RegNet",)),
        # --weights auto: caffe weights change the module-level data_preprocessor the model is given
        ("mmseg", "segformer/segformer_mit-b5_8xb2-160k_ade20k-640x640.py", (*CAFFE_R50, "--weights", "auto")),
        ("mmpretrain", "vision_transformer/vit-base-p16_64xb64_in1k-384px.py", ("mmpretrain.ResNet",)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_swap_parses_what_it_reads_and_writes_what_a_whole_parse_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, library: str, relative: str, backbone: tuple[str, ...]
) -> None:
    """The codemods' parse stands in for the pipelines and datasets a swap does not read
    (``codemods._config.parse_reading``): the diff is the one a parse of the whole file gives."""
    from codemods import _config

    model = shipped(library, relative, tmp_path)
    assert _config.parse_reading(model.read_text(), {"model"})[1]  # statements stood in for
    weights = () if "--weights" in backbone else ("--weights", "none")
    args = ["build", "--backbone", *backbone, "--model", str(model), *weights, "--no-smoke", "--diff"]
    partial = CliRunner().invoke(main, args)
    monkeypatch.setattr(_config, "parse_reading", lambda text, _: (_config.parse(text), frozenset()))
    whole = CliRunner().invoke(main, args)
    assert partial.exit_code == whole.exit_code == 0, partial.output
    assert partial.output == whole.output and "+++" in partial.output
    assert "--weights" not in backbone or "mean=[103.53, 116.28, 123.675]" in partial.output
