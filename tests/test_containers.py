"""The form a backbone returns its outputs in (a tuple, a list, one tensor): recorded in the schemas'
tables from the probe, and held against what the first consumer takes (mmpretrain's pooling necks: a
tuple or one tensor; every reader that indexes levels: a tuple or a list). A misfit is refused by the
plan and found by validate; before, the build wrote it and only the smoke-build's forward failed.

The forms are measured here by real forwards of the real backbones (not read from the schemas)."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otxgen.cli import main
from otxgen.extract.arch import arch_table
from otxgen.libraries import get_adapter, split_type
from otxgen.schema import store
from otxgen.schema.table import ChannelTable
from otxgen.shapes import probe_outputs

MM = ("mmdet", "mmseg", "mmpretrain")


def measured(form: str) -> list[str]:
    """The mm backbones whose committed table says they return ``form``."""
    types = [str(entry["type"]) for entry in store.load_index()["backbones"] if entry["library"] in MM]
    return sorted(t for t in types if ChannelTable(store.load_schema(t)).measured_container == form)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def workspace(task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    assert invoke("build", "--task", task).exit_code == 0
    folder = tmp_path / f"otx-workspace-{task.upper()}"
    monkeypatch.chdir(folder)
    return folder


def test_the_tables_say_the_form_a_real_forward_returns() -> None:
    """Each list- and tensor-returning mm backbone and a tuple-returning one of each library, through a
    real CPU forward at its first arch option (otxgen's timm wrapper declares its form: checked too)."""
    lists = measured("list")
    assert {"mmdet.SwinTransformer", "mmseg.MobileNetV3", "mmseg.CGNet"} <= set(lists)
    assert measured("nested") == ["mmpretrain.DistilledVisionTransformer"]  # its class and distillation tokens
    sample = [*lists, *measured("tensor"), *measured("nested"), "mmdet.ResNet", "mmpretrain.ResNet", "timm.resnet18"]
    sample += ["torchvision.resnet18"]
    for backbone_type in sample:
        schema = store.load_schema(backbone_type)
        library, name = split_type(backbone_type)
        entry = next(e for e in get_adapter(library).entries() if e.name == name)
        arch = arch_table(entry.target, set(schema["properties"]))
        cfg = {"type": backbone_type} | ({arch[0]: arch[1][0]} if arch and arch[1] else {})
        real = probe_outputs(cfg, tier="forward", use_cache=False).container
        assert ChannelTable(schema).measured_container == real, backbone_type


def test_a_list_into_a_pooling_neck_gets_a_neck_that_passes_it_on_as_a_tuple(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmdet's Swin returns a list, mmpretrain's pooling neck takes a tuple: a 1x1 ChannelMapper goes in
    front of it (linear, into the last width); the whole model trains a step. Swapped on to a backbone
    that returns a tuple, the neck goes; to another list, it reads the new levels."""
    folder = workspace("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmdet.SwinTransformer", "--weights", "none")  # smoke-built
    assert result.exit_code == 0, result.output
    added = "added neck mmdet.ChannelMapper before GlobalAveragePooling: the new backbone returns its maps in a list"
    assert added in result.output
    text = (folder / "model.py").read_text()
    mapper = "type='mmdet.ChannelMapper',\n            in_channels=[768],\n            out_channels=768,"
    assert mapper in text and "out_indices=(3,)" in text  # the deepest level alone: every parameter trains
    assert invoke("validate", "model.py").exit_code == 0
    assert _without_gradient(folder / "model.py") == []  # DDP's default refuses a parameter left out
    trained = invoke("smoke", "model.py", "--train-step")
    assert trained.exit_code == 0 and "train step" in trained.output, trained.output
    other = invoke("build", "--backbone", "mmseg.CGNet", "--weights", "none")
    assert other.exit_code == 0, other.output
    assert "in_channels=[35, 131, 256]" in (folder / "model.py").read_text()
    back = invoke("build", "--backbone", "mmpretrain.ResNet", "--set", "depth=18", "--weights", "none")
    assert back.exit_code == 0, back.output
    assert "removed neck ChannelMapper: the new backbone returns a tuple" in back.output
    text = (folder / "model.py").read_text()
    assert "ChannelMapper" not in text and "in_channels=512" in text


def _without_gradient(config: Path) -> list[str]:
    """The trainable parameters of the model ``config`` builds (mmpretrain's registry, as mmengine's
    runner does) that one loss step on a batch of two leaves without a gradient."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    cfg = Config.fromfile(str(config))
    init_default_scope("mmpretrain")
    model = MODELS.build(cfg.model)
    model.train()
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(1)]
    losses = model(torch.rand(2, 3, 224, 224), samples, mode="loss")
    sum(losses.values()).backward()
    return [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("backbone_type", measured("list"))
def test_every_list_returning_backbone_runs_in_a_classifier(
    backbone_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built with the smoke-build (the whole model's forward)."""
    workspace("classification", tmp_path, monkeypatch)
    starting = store.starting_arguments(store.load_schema(backbone_type))
    args = [f"--set={name}={json.dumps(value)}" for name, value in starting.items()]
    result = invoke("build", "--backbone", backbone_type, "--weights", "none", *args)
    assert result.exit_code == 0, result.output
    assert "OK: ImageClassifier" in result.output


def test_one_tensor_into_a_head_that_indexes_levels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SSDVGG returns a lone output bare (depth 11 gives one); FCN's head would index it along its batch."""
    assert "mmdet.SSDVGG" in measured("tensor")
    workspace("segmentation", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmdet.SSDVGG", "--set", "depth=11", "--weights", "none", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "the backbone returns one tensor, and FCNHead takes a tuple or a list" in result.stderr


def test_one_tensor_into_a_pooling_neck_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mmpretrain's GlobalAveragePooling pools one tensor and returns it bare; the head then takes
    ``feats[-1]``, the batch's last image (a batch of 4 gave 1,000 scores; found by a hostile pass). The
    smoke-build's batch of one hid it."""
    import torch
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.models.necks import GlobalAveragePooling

    pooled = GlobalAveragePooling()(torch.rand(4, 8, 7, 7))
    assert tuple(LinearClsHead(10, 8).pre_logits(pooled).shape) == (8,)  # one image's features, not four
    workspace("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmdet.SSDVGG", "--set", "depth=11", "--weights", "none", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "the backbone returns one tensor, and GlobalAveragePooling takes a tuple;" in result.stderr
    config = tmp_path / "tensor.py"
    config.write_text(
        "model = dict(\n"
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='mmdet.SSDVGG', depth=11),\n"
        "    neck=dict(type='GlobalAveragePooling'),\n"
        "    head=dict(type='LinearClsHead', num_classes=10, in_channels=512),\n"
        ")\n"
    )
    found = invoke("validate", str(config))
    assert found.exit_code == 1 and "the backbone returns one tensor" in found.output, found.output


@pytest.mark.parametrize("backbone", ["mmseg.PIDNet", "mmseg.DDRNet"])
def test_a_backbone_whose_training_outputs_differ_is_refused_outside_its_own_head(
    backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In evaluation PIDNet gives one tensor, which a classifier pools; in training three, and the
    classifier's head then reads a 128-channel map (found by a hostile pass: the smoke-build runs in
    evaluation). Its own config (PIDHead) keeps validating."""
    folder = workspace("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", backbone, "--weights", "none", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "gives other outputs in training than in evaluation" in result.stderr
    assert invoke("validate", str(folder / "model.py")).exit_code == 0
    own = Path(importlib.import_module("mmseg").__file__ or "").parent / ".mim" / "configs" / "pidnet"
    assert invoke("validate", str(own / "pidnet-s_2xb6-120k_1024x1024-cityscapes.py")).exit_code == 0


def test_validate_finds_a_list_fed_to_a_pooling_neck(tmp_path: Path) -> None:
    config = tmp_path / "model.py"
    config.write_text(
        "model = dict(\n"
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='mmdet.SwinTransformer'),\n"
        "    neck=dict(type='GlobalAveragePooling'),\n"
        "    head=dict(type='LinearClsHead', num_classes=10, in_channels=768),\n"
        ")\n"
    )
    result = invoke("validate", str(config))
    assert result.exit_code == 1, result.output
    assert f"{config}:4:20: model.neck.type: the backbone returns a list" in result.output


def test_several_outputs_per_level_become_feature_maps_unless_the_head_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DistilledViT gives its class and distillation tokens per level: a linear head cannot read them, so
    the swap sets its feature-map output (pooled by the neck); DeiT's own head reads them, so the
    library's DeiT config keeps them, validates, smoke-builds, and swaps its arch."""
    workspace("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmpretrain.DistilledVisionTransformer", "--weights", "none")
    assert result.exit_code == 0, result.output  # smoke-built
    assert "set out_type='featmap': mmpretrain.DistilledVisionTransformer gives several outputs per level" in (
        result.output
    )
    own = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    folder = tmp_path / "own"
    shutil.copytree(own / "_base_", folder / "_base_")
    (folder / "deit").mkdir()
    config = folder / "deit" / "deit-small-distilled_4xb256_in1k.py"
    shutil.copy(own / "deit" / config.name, config)
    assert invoke("validate", str(config)).exit_code == 0
    assert invoke("smoke", str(config)).exit_code == 0
    swapped = invoke(
        "build",
        "--backbone",
        "mmpretrain.DistilledVisionTransformer",
        "--set",
        "arch=deit-tiny",
        "--model",
        str(config),
        "--no-backbone-yaml",
        "--weights",
        "none",
    )
    assert swapped.exit_code == 0, swapped.output
    text = config.read_text()
    assert "DeiTClsHead" in text and "out_type" not in text and "in_channels=192" in text
    config.write_text(text.replace("type='DeiTClsHead'", "type='LinearClsHead'"))
    found = invoke("validate", str(config))
    assert found.exit_code == 1 and "the backbone returns several outputs per level" in found.output, found.output


def test_a_list_into_a_neck_that_takes_a_tuple_only_is_refused_by_build_and_found_by_validate(
    tmp_path: Path,
) -> None:
    """mmpretrain's HRFuseScales asserts a tuple: no list neck goes in front of it (found by a hostile pass:
    build wrote it, validate passed it, the forward failed)."""
    own = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    shutil.copytree(own / "_base_", tmp_path / "_base_")
    (tmp_path / "hrnet").mkdir()
    config = tmp_path / "hrnet" / "hrnet-w18_4xb32_in1k.py"
    shutil.copy(own / "hrnet" / config.name, config)
    before = config.read_text()
    args = ["--backbone", "mmdet.SwinTransformer", "--model", str(config), "--no-backbone-yaml", "--no-smoke"]
    result = invoke("build", *args, "--weights", "none")
    assert result.exit_code == 2, result.output
    assert "the backbone returns a list, and HRFuseScales takes a tuple" in result.stderr
    assert config.read_text() == before
    written = tmp_path / "model.py"
    written.write_text(
        "model = dict(\n"
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='mmdet.SwinTransformer'),\n"
        "    neck=[dict(type='HRFuseScales', in_channels=(96, 192, 384, 768)), dict(type='GlobalAveragePooling')],\n"
        "    head=dict(type='LinearClsHead', num_classes=10, in_channels=2048),\n"
        ")\n"
    )
    found = invoke("validate", str(written))
    assert found.exit_code == 1 and "the backbone returns a list, and HRFuseScales takes a tuple" in found.output


def test_tridentnet_outside_a_trident_detector_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In training TridentNet runs the batch once per branch, which only TridentRoIHead reads: in any
    other model the first training step fails (found by a hostile pass: the forward passed)."""
    workspace("detection", tmp_path, monkeypatch)
    starting = store.starting_arguments(store.load_schema("mmdet.TridentResNet"))
    args = [f"--set={name}={json.dumps(value)}" for name, value in starting.items()]
    result = invoke("build", "--backbone", "mmdet.TridentResNet", *args, "--weights", "none", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "gives other outputs in training than in evaluation, which only its own TridentRoIHead reads" in (
        result.stderr
    )


def test_a_backbone_without_out_indices_gives_maps_through_its_output_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RevViT has no ``out_indices``; by default it pools its tokens (2-D), and its ``out_type='featmap'``
    gives a map. The table records that map and the argument, so a dense task swaps to it: the
    segmentor is written with the argument, built and run."""
    from otxgen.extract.channels import measure

    cfg = {"type": "mmpretrain.RevVisionTransformer", "arch": "deit-tiny"}
    pooled = probe_outputs(cfg).outputs
    maps = probe_outputs(cfg | {"out_type": "featmap"}).outputs
    assert [o.ndim for o in pooled] == [2] and [o.ndim for o in maps] == [4]
    params = {"arch": "base", "out_type": "avg_featmap"}
    block, tasks = measure("mmpretrain.RevVisionTransformer", params, "arch", ["deit-tiny"], {})
    assert block is not None and "segmentation" in tasks
    assert block["dense_args"] == {"out_type": "featmap"}
    assert block["table"]["deit-tiny"] == [{"channels": maps[0].channels, "stride": maps[0].stride}]

    folder = workspace("segmentation", tmp_path, monkeypatch)
    result = invoke(
        "build", "--backbone", "mmpretrain.RevVisionTransformer", "--set", "arch=deit-tiny", "--weights", "none"
    )
    assert result.exit_code == 0, result.output  # smoke-built: the forward ran
    text = (folder / "model.py").read_text()
    assert "out_type='featmap'" in text and f"in_channels=[{maps[0].channels}]" in text
