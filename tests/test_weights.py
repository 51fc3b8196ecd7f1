"""Weights and the catalog (issue 10), as a user meets them: ``find --sort``, ``build --weights``,
``smoke --weights-check`` and validate's weight checks.

No downloads: the catalog's figures are compared with the libraries' own metadata read here, and the
checkpoints loaded are made here from freshly built networks (torchvision, an mmpretrain classifier,
pytorchcv, timm) and saved as files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner, Result

from otxgen.cli import main
from otxgen.schema.published import archs, choose
from otxgen.schema.store import load_index, load_schema

pytestmark = pytest.mark.filterwarnings("ignore")
TEMPLATES = ("detection", "segmentation", "classification")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def workspace(tmp_path: Path, task: str) -> Path:
    folder = tmp_path / task
    assert invoke("build", "--task", task, "--workspace", str(folder)).exit_code == 0
    return folder


def backbone_of(model_py: Path) -> dict[str, Any]:
    from mmengine.config import Config

    backbone: dict[str, Any] = Config.fromfile(str(model_py)).model.backbone.to_dict()
    return backbone


def preprocessor_of(model_py: Path) -> dict[str, Any]:
    from mmengine.config import Config

    preprocessor: dict[str, Any] = Config.fromfile(str(model_py)).model.data_preprocessor.to_dict()
    return preprocessor


# --- the catalog, against the libraries' own metadata --------------------------------------------------


def test_torchvision_figures_are_the_weight_enums() -> None:
    from torchvision.models import get_model_weights, list_models

    listed = {row["type"] for row in load_index()["backbones"] if row["library"] == "torchvision"}
    compared = 0
    for name in list_models():
        if f"torchvision.{name}" not in listed:
            continue
        enums = {
            w.url: w
            for w in get_model_weights(name)
            if w.meta.get("_metrics", {}).get("ImageNet-1K")
            and all(v == v for v in w.meta["_metrics"]["ImageNet-1K"].values())  # features-only: NaN top-1
        }
        (arch,) = archs(load_schema(f"torchvision.{name}"))
        assert {c.url for c in arch.checkpoints} == set(enums), name
        for checkpoint in arch.checkpoints:
            weight = enums[checkpoint.url]
            assert checkpoint.top1 == weight.meta["_metrics"]["ImageNet-1K"]["acc@1"]
            assert checkpoint.params == weight.meta["num_params"]
            assert checkpoint.gflops == weight.meta["_ops"]
            assert checkpoint.mean == pytest.approx([m * 255 for m in weight.transforms().mean])
            compared += 1
    assert compared > 50


def test_mmpretrain_figures_are_the_metafiles() -> None:
    """Every ImageNet checkpoint of the ResNet and ConvNeXt metafiles whose config builds the default
    arch setting is listed under its arch with the metafile's Top-1, Parameters and FLOPs."""
    import mmpretrain
    from mmengine.config import Config

    root = Path(mmpretrain.__file__).parent / ".mim"
    for family, backbone_type, key in (("resnet", "ResNet", "depth"), ("convnext", "ConvNeXt", "arch")):
        schema = load_schema(f"mmpretrain.{backbone_type}")
        by_url = {c.url: (a, c) for a in archs(schema) for c in a.checkpoints}
        found = 0
        metafile = yaml.safe_load((root / "configs" / family / "metafile.yml").read_text())
        collections = {c["Name"]: c.get("Metadata") or {} for c in metafile["Collections"]}
        for model in metafile["Models"]:
            backbone = Config.fromfile(str(root / model["Config"])).model.backbone
            metadata = collections.get(model.get("In Collection"), {}) | (model.get("Metadata") or {})
            data = str(metadata.get("Training Data"))
            plain = {"type", key, "drop_path_rate", "num_stages", "out_indices", "style"}
            if backbone.type != backbone_type or "ImageNet" not in data or set(backbone) - plain:
                continue
            arch, checkpoint = by_url[model["Weights"]]
            assert str(backbone[key]) in arch.labels
            results = [r["Metrics"] for r in model.get("Results") or [] if r["Dataset"] == "ImageNet-1k"]
            top1 = results[0]["Top 1 Accuracy"] if results else None
            assert checkpoint.top1 == top1 and checkpoint.params == model["Metadata"]["Parameters"]
            assert checkpoint.gflops == pytest.approx(model["Metadata"]["FLOPs"] / 1e9, abs=1e-3)
            assert checkpoint.prefix == "backbone."
            found += 1
        assert found >= 4, family


def test_pytorchcv_figures_are_its_model_store() -> None:
    from pytorchcv.models.common import model_store

    table = model_store.get_model_metainfo_dict()
    for name in ("resnet18", "mobilenetv2_w1", "resnet10"):
        weights, error, _, _ = table[name]
        ((checkpoint,),) = [a.checkpoints for a in archs(load_schema(f"pytorchcv.{name}"))]
        assert checkpoint.params == weights and checkpoint.top5 == pytest.approx(100 - int(error) / 100)


@pytest.mark.parametrize("backbone_type", ["mmdet.RegNet", "mmseg.MixVisionTransformer", "timm.resnet18"])
def test_measured_params_are_the_built_modules(backbone_type: str) -> None:
    from otxgen.shapes import build_backbone

    schema = load_schema(backbone_type)
    block = schema["x-otxgen"]["catalog"]
    label, value = next(iter(block["archs"].items()))
    cfg = {"type": backbone_type, **({block["key"]: label} if block["key"] else {})}
    required = schema["x-otxgen"]["required_args"]
    cfg |= {name: options[0] for name, options in required.items() if options and name not in cfg}
    module = build_backbone(cfg, "cpu")
    assert value["measured"]["params"] == sum(p.numel() for p in module.parameters())
    assert value["measured"]["gflops"] > 0


def test_find_sort_top1_shows_published_figures() -> None:
    result = invoke("find", "--backbone", "mmpretrain", "torchvision", "--sort", "top1", "--weights-only")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if re.match(r"\| \d+ ", line)]
    tops = [float(cells[6]) for cells in (line.split("|") for line in rows) if cells[6].strip()]
    assert len(tops) > 100 and tops == sorted(tops, reverse=True)
    rated = sum(
        1
        for b in load_index()["backbones"]
        if b["library"] in ("mmpretrain", "torchvision")
        for a in b["archs"]
        if a["top1"] is not None
    )
    assert len(tops) == rated


def test_every_arch_of_every_library_has_params_and_gflops_or_says_why() -> None:
    total = unexplained = 0
    unmeasured = []
    for row in load_index()["backbones"]:
        assert row["archs"], row["type"]
        block = load_schema(row["type"])["x-otxgen"]["catalog"]
        for arch in row["archs"]:
            total += 1
            if arch["params"] is not None and arch["gflops"] is not None:
                continue
            unmeasured.append(row["type"])
            unexplained += "error" not in block["archs"][arch["arch"][0]]["measured"]
    assert total > 2000 and unexplained == 0
    assert len(unmeasured) <= total * 3 // 100, unmeasured  # no forward on the meta device, or needs input


# --- build --weights ----------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TEMPLATES)
def test_auto_writes_the_imagenet_checkpoint_of_exactly_this_arch(tmp_path: Path, task: str) -> None:
    folder = workspace(tmp_path, task)
    result = invoke(
        "build", "--backbone", "mmpretrain.ConvNeXt", "--set", "arch=tiny", "--workspace", str(folder), "--no-smoke"
    )
    assert result.exit_code == 0, result.output
    schema = load_schema("mmpretrain.ConvNeXt")
    expected, _ = choose(next(a for a in archs(schema) if "tiny" in a.labels))
    assert expected is not None and expected.address
    init = backbone_of(folder / "model.py")["init_cfg"]
    assert init == {"type": "Pretrained", "checkpoint": expected.address, "prefix": "backbone."}
    assert f"weights: {expected.name}" in result.output
    assert invoke("validate", str(folder / "model.py")).exit_code == 0
    again = invoke("build", "--backbone", str(folder / "backbone.yaml"), "--workspace", str(folder), "--check")
    assert again.exit_code == 0, again.output  # idempotent: a second build writes the same checkpoint


@pytest.mark.parametrize("backbone_type", ["torchvision.resnet18", "pytorchcv.resnet18"])
def test_auto_for_the_wrappers(tmp_path: Path, backbone_type: str) -> None:
    folder = workspace(tmp_path, "detection")
    result = invoke("build", "--backbone", backbone_type, "--workspace", str(folder), "--no-smoke")
    assert result.exit_code == 0, result.output
    (arch,) = archs(load_schema(backbone_type))
    expected, _ = choose(arch)
    assert expected is not None
    assert backbone_of(folder / "model.py")["init_cfg"] == {"type": "Pretrained", "checkpoint": expected.address}


def test_auto_with_no_checkpoint_for_a_weights_switch_names_the_switch(tmp_path: Path) -> None:
    """mmpretrain's TIMMBackbone: its library's metadata lists no checkpoint, and its ``pretrained`` is a
    switch that has timm fetch its own weights; the note says both, and the switch is taken."""
    folder = workspace(tmp_path, "classification")
    swap = ("build", "--backbone", "mmpretrain.TIMMBackbone", "--set", "model_name=resnet18")
    result = invoke(*swap, "--workspace", str(folder), "--diff")
    assert result.exit_code == 0, result.output
    assert "metadata lists no ImageNet checkpoint for this arch; --set pretrained=True has it fetch" in result.output
    switched = invoke(*swap, "--set", "pretrained=True", "--workspace", str(folder), "--no-smoke")
    assert switched.exit_code == 0, switched.output
    assert backbone_of(folder / "model.py")["pretrained"] is True


def test_a_checkpoint_is_written_with_the_arguments_its_configs_read_it_with(tmp_path: Path) -> None:
    """mmdet's own Swin configs start from the original repository's checkpoint with convert_weights=True
    (its keys are converted as it loads; without it init_weights fails: a hostile pass): --weights auto
    writes both, and a second build from the backbone.yaml it wrote is up to date."""
    import importlib

    folder = workspace(tmp_path, "detection")
    result = invoke("build", "--backbone", "mmdet.SwinTransformer", "--workspace", str(folder), "--no-smoke")
    assert result.exit_code == 0, result.output
    expected, _ = choose(archs(load_schema("mmdet.SwinTransformer"))[0])
    assert expected is not None and dict(expected.arguments) == {"convert_weights": True}
    backbone = backbone_of(folder / "model.py")
    assert backbone["init_cfg"]["checkpoint"] == expected.address and backbone["convert_weights"] is True
    assert "read with convert_weights=True as those configs read it" in result.output
    shipped = Path(importlib.import_module("mmdet").__file__ or "").parent / ".mim" / "configs" / "swin"
    assert "convert_weights=True" in (shipped / "retinanet_swin-t-p4-w7_fpn_1x_coco.py").read_text()
    assert invoke("validate", str(folder / "model.py")).exit_code == 0
    again = invoke("build", "--backbone", str(folder / "backbone.yaml"), "--workspace", str(folder), "--check")
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    ("library", "shipped", "task"),
    [
        ("mmdet", "swin/mask-rcnn_swin-s-p4-w7_fpn_amp-ms-crop-3x_coco.py", "detection"),  # Swin-S: depths
        ("mmseg", "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py", "segmentation"),  # MiT-B0
    ],
    ids=lambda value: str(value).split("/")[-1][:24],
)
def test_auto_writes_the_checkpoint_of_a_size_given_by_shape_arguments(
    tmp_path: Path, library: str, shipped: str, task: str
) -> None:
    """A backbone without arch options whose size its arguments give: its library's configs of that size
    start from that size's checkpoint, and so does ``--weights auto`` (it trained from scratch: only the
    default size's were in the catalog)."""
    import importlib

    from mmengine.config import Config

    config = Config.fromfile(
        str(Path(importlib.import_module(library).__file__ or "").parent / ".mim/configs" / shipped)
    )
    theirs = config.model.backbone.to_dict()
    backbone_type = f"{library}.{theirs['type']}"
    shape = load_schema(backbone_type)["x-otxgen"]["catalog"]["reshaped"]["arguments"]
    sets = [
        f"{name}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for name, v in theirs.items() if name in shape
    ]
    assert sets
    folder = workspace(tmp_path, task)
    args = ["--backbone", backbone_type, *(part for one in sets for part in ("--set", one))]
    result = invoke("build", *args, "--workspace", str(folder), "--no-smoke")
    assert result.exit_code == 0, result.output
    checkpoint = theirs["init_cfg"]["checkpoint"] if theirs.get("init_cfg") else config.model.pretrained
    assert backbone_of(folder / "model.py")["init_cfg"]["checkpoint"] == checkpoint
    assert invoke("validate", str(folder / "model.py")).exit_code == 0


def test_auto_prefers_an_imagenet_1k_classifier_to_an_imagenet_21k_one_when_none_is_rated() -> None:
    """timm lists mobilenetv3_large_100's ImageNet-21k weights first, with no top-1 for any: auto took
    them ("the first of 3"); it takes the first trained on ImageNet-1k last."""
    (arch,) = archs(load_schema("timm.mobilenetv3_large_100"))
    loadable = [c for c in arch.checkpoints if c.url]
    assert all(c.top1 is None for c in loadable) and loadable[0].data[-1] != "ImageNet-1k"
    chosen, why = choose(arch)
    assert chosen is not None and chosen.data[-1] == "ImageNet-1k" and "trained on ImageNet-1k last" in why
    assert chosen == next(c for c in loadable if c.data[-1] == "ImageNet-1k")


@pytest.mark.parametrize(
    "shipped", ["gn/mask-rcnn_r50_fpn_gn-all_2x_coco.py", "gn+ws/faster-rcnn_r50_fpn_gn-ws-all_1x_coco.py"]
)
def test_auto_writes_the_checkpoint_trained_with_the_backbones_norm_layers(tmp_path: Path, shipped: str) -> None:
    """A GroupNorm ResNet-50 (with weight standardisation, or not) gets the checkpoint mmdet's own config of
    those layers starts from: it kept torchvision's BN weights (98 GN keys missing), and a GN+WS one went to
    a BN ResNeXt-50."""
    import importlib

    from mmengine.config import Config

    root = Path(importlib.import_module("mmdet").__file__ or "").parent / ".mim" / "configs"
    theirs = Config.fromfile(str(root / shipped)).model.backbone.to_dict()
    folder = workspace(tmp_path, "detection")
    sets = [f"{name}={json.dumps(theirs[name])}" for name in ("norm_cfg", "conv_cfg") if theirs.get(name)]
    args = ["--backbone", "mmdet.ResNet", "--set", "depth=50", *(part for one in sets for part in ("--set", one))]
    result = invoke("build", *args, "--workspace", str(folder), "--no-smoke")
    assert result.exit_code == 0, result.output
    assert backbone_of(folder / "model.py")["init_cfg"]["checkpoint"] == theirs["init_cfg"]["checkpoint"]
    plain = invoke(
        "build",
        "--backbone",
        "mmdet.ResNeXt",
        "--set",
        "depth=50",
        "--set",
        "groups=32",
        "--workspace",
        str(folder),
        "--no-smoke",
    )
    assert plain.exit_code == 0 and "_gn" not in str(backbone_of(folder / "model.py").get("init_cfg")), plain.output


def test_normalisation_follows_the_checkpoint(tmp_path: Path) -> None:
    """A caffe-style template (BGR, std 1) swapped to torchvision weights gets RGB ImageNet mean/std."""
    folder = workspace(tmp_path, "detection")
    model = folder / "model.py"
    text = model.read_text()
    caffe = text.replace("std=[58.395, 57.12, 57.375]", "std=[1.0, 1.0, 1.0]").replace(
        "bgr_to_rgb=True", "bgr_to_rgb=False"
    )
    model.write_text(caffe)
    result = invoke("build", "--backbone", "torchvision.resnet50", "--workspace", str(folder), "--no-smoke")
    assert result.exit_code == 0, result.output
    (arch,) = archs(load_schema("torchvision.resnet50"))
    checkpoint, _ = choose(arch)
    assert checkpoint is not None and checkpoint.std is not None
    preprocessor = preprocessor_of(model)
    assert preprocessor["std"] == pytest.approx(list(checkpoint.std)) and preprocessor["bgr_to_rgb"] is True
    assert "[*] model.py: data_preprocessor.std=" in result.output
    assert "pad_size_divisor=32" in model.read_text()  # nothing else of the preprocessor changes


def test_none_writes_no_checkpoint(tmp_path: Path) -> None:
    folder = workspace(tmp_path, "segmentation")
    result = invoke(
        "build",
        "--backbone",
        "mmseg.MixVisionTransformer",
        "--weights",
        "none",
        "--workspace",
        str(folder),
        "--no-smoke",
    )
    assert result.exit_code == 0, result.output
    assert "init_cfg" not in backbone_of(folder / "model.py") or backbone_of(folder / "model.py")["init_cfg"] is None
    assert "[!] no pretrained weights (--weights none)" in result.output


# --- local checkpoints, loaded through mmengine's real init path ----------------------------------------


def _torchvision() -> dict[str, torch.Tensor]:
    import torchvision

    return torchvision.models.resnet18().state_dict()


def mmpretrain_classifier(depth: int) -> torch.nn.Module:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    head = dict(type="LinearClsHead", num_classes=1000, in_channels=512 if depth < 50 else 2048)
    cfg = dict(
        type="ImageClassifier", backbone=dict(type="ResNet", depth=depth), neck=dict(type="GlobalAveragePooling")
    )
    with DefaultScope.overwrite_default_scope("mmpretrain"):  # a detector built before left mmdet's scope
        module: torch.nn.Module = MODELS.build(cfg | {"head": head})
    return module


def _mmpretrain() -> dict[str, torch.Tensor]:
    classifier = mmpretrain_classifier(18)
    return {"state_dict": classifier.state_dict(), "meta": {"made": "here"}}  # type: ignore[dict-item]


def _pytorchcv() -> dict[str, torch.Tensor]:
    from pytorchcv.model_provider import get_model

    return get_model("resnet10").state_dict()


def _timm() -> dict[str, torch.Tensor]:
    import timm

    return timm.create_model("resnet18").state_dict()


def print_of(tensor: torch.Tensor) -> tuple[Any, ...]:
    return (*tensor.shape, round(float(tensor.double().sum()), 4))


def fingerprints(tensors: Any) -> set[tuple[Any, ...]]:
    return {print_of(t) for t in tensors if isinstance(t, torch.Tensor)}


LOCAL = {
    "torchvision.resnet18": ([], _torchvision),
    "mmpretrain.ResNet": (["--set", "depth=18"], _mmpretrain),
    "pytorchcv.resnet10": ([], _pytorchcv),
    "timm.resnet18": ([], _timm),
}


@pytest.mark.parametrize("backbone_type", list(LOCAL))
def test_local_checkpoint_loads_with_no_missing_key(tmp_path: Path, backbone_type: str) -> None:
    from mmengine.config import Config

    from otxgen.libraries.quiet import quiet_libraries
    from otxgen.smoke import runtime

    extra, make = LOCAL[backbone_type]
    saved = make()
    path = tmp_path / "weights.pth"
    torch.save(saved, path)
    folder = workspace(tmp_path, "detection")
    result = invoke(
        "build", "--backbone", backbone_type, *extra, "--weights", str(path), "--workspace", str(folder), "--no-smoke"
    )
    assert result.exit_code == 0, result.output
    config = Config.fromfile(str(folder / "model.py"))
    model = runtime.build_model(config, runtime.scope_of(config))
    with quiet_libraries():
        model.init_weights()  # mmengine's Pretrained initialisation, as training runs it
    state = saved.get("state_dict", saved)
    loaded = {k: v for k, v in model.backbone.state_dict().items() if not k.endswith("num_batches_tracked")}
    published = fingerprints(state.values())
    assert all(print_of(tensor) in published for tensor in loaded.values())  # each is one of the checkpoint's
    check = invoke("smoke", str(folder / "model.py"), "--device", "cpu", "--weights-check", "--format", "json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)["weights"]
    assert report["counts"]["missing"] == 0 and report["counts"]["mismatched"] == 0
    assert report["uninitialised_share"] == 0


def test_wrong_depth_is_reported_by_weights_check_and_validate(tmp_path: Path) -> None:
    classifier = mmpretrain_classifier(50)  # bottleneck blocks: not the shapes of depth 18's basic blocks
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": classifier.state_dict()}, path)
    folder = workspace(tmp_path, "classification")
    built = invoke(
        "build",
        "--backbone",
        "mmpretrain.ResNet",
        "--set",
        "depth=18",
        "--weights",
        str(path),
        "--workspace",
        str(folder),
        "--no-smoke",
    )
    assert built.exit_code == 0, built.output
    check = invoke("smoke", str(folder / "model.py"), "--device", "cpu", "--weights-check", "--format", "json")
    assert check.exit_code == 1
    report = json.loads(check.stdout)["weights"]
    assert report["counts"]["mismatched"] + report["counts"]["missing"] > 0 and report["uninitialised_share"] > 0
    # a published checkpoint of another depth: validate warns, from the catalog
    schema = load_schema("mmpretrain.ResNet")
    other = next(c for a in archs(schema) if "101" in a.labels for c in a.checkpoints if c.url)
    model = folder / "model.py"
    text = model.read_text().replace(str(path), other.url)
    model.write_text(text)
    validated = invoke("validate", str(model))
    assert validated.exit_code == 0 and "warning:" in validated.output and "depth=101" in validated.output


def test_init_cfg_and_pretrained_together_is_an_error(tmp_path: Path) -> None:
    folder = workspace(tmp_path, "detection")
    model = folder / "model.py"
    text = model.read_text().replace("type='MobileNetV2',", "type='MobileNetV2',\n        pretrained='a.pth',")
    text = text.replace("init_cfg=None,", "init_cfg=dict(type='Pretrained', checkpoint='b.pth'),")
    model.write_text(text)
    result = invoke("validate", str(model))
    assert result.exit_code == 1 and "init_cfg and pretrained cannot be specified at the same time" in result.output


class _Payload:
    """A pickle that would create a file if it were ever unpickled without torch's weights-only reader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _not_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    import pickle

    text = tmp_path / "notes.pth"
    text.write_text("these are my notes\n")
    whole = tmp_path / "whole.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, whole)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(whole.read_bytes()[:200])
    payload = tmp_path / "payload.pth"
    payload.write_bytes(pickle.dumps({"state_dict": _Payload(tmp_path / "PWNED")}, protocol=2))
    return {
        "text": (text, "neither the zip archive nor the pickle torch.save writes"),
        "truncated-zip": (truncated, "a damaged zip archive: its central directory is missing, the file is cut short"),
        "pickle-with-a-payload": (payload, "it holds objects other than tensors; otxgen never unpickles them"),
    }


@pytest.mark.parametrize("kind", ["text", "truncated-zip", "pickle-with-a-payload"])
def test_weights_check_on_a_file_that_is_not_a_checkpoint_is_an_input_error(tmp_path: Path, kind: str) -> None:
    folder = workspace(tmp_path, "classification")
    path, why = _not_checkpoints(tmp_path)[kind]
    check = invoke("smoke", str(folder / "model.py"), "--device", "cpu", "--weights-check", str(path))
    assert check.exit_code == 2, check.output
    assert f"{path}: not a PyTorch checkpoint ({why})" in check.stderr, check.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(("saved", "held"), [([1, 2], "a list"), (torch.zeros(2), "a tensor")])
def test_build_refuses_a_checkpoint_that_holds_no_state_dict(tmp_path: Path, saved: object, held: str) -> None:
    """What ``smoke --weights-check`` refuses, ``build --weights`` does not write: read from the pickle's
    first opcode, nothing executed. A dict and a model's state dict (an OrderedDict) are taken."""
    folder = workspace(tmp_path, "classification")
    path = tmp_path / "weights.pth"
    torch.save(saved, path)
    result = invoke("build", "--backbone", "torchvision.resnet18", "--weights", str(path), "--workspace", str(folder))
    assert result.exit_code == 2 and f"holds {held}, not a state dict" in result.stderr, result.output
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    taken = invoke("build", "--backbone", "torchvision.resnet18", "--weights", str(path), "--workspace", str(folder))
    assert "not a state dict" not in taken.output


def test_weights_check_on_a_folder_says_it_is_one(tmp_path: Path) -> None:
    folder = workspace(tmp_path, "classification")
    (tmp_path / "weights.pth").mkdir()
    check = invoke(
        "smoke", str(folder / "model.py"), "--device", "cpu", "--weights-check", str(tmp_path / "weights.pth")
    )
    assert check.exit_code == 2 and "weights.pth is a folder; give a checkpoint file in it" in check.stderr, (
        check.stderr
    )


def test_every_timm_address_weights_auto_writes_is_one_mmengine_reads() -> None:
    """Over the whole timm catalog, statically: ``--weights auto`` writes only an address in a format
    mmengine's reader loads; the JAX ``.npz`` archives timm publishes for some ViTs are never written
    (the arch then gets no weights, with the reason)."""
    from otxgen.facts.checkpoints import torch_readable
    from otxgen.schema.published import choose
    from otxgen.schema.store import StoreCatalog

    catalog = StoreCatalog()
    written, refused = 0, []
    for row in catalog.index()["backbones"]:
        if row["library"] != "timm":
            continue
        for arch in archs(catalog.schema(row["type"])):
            chosen, why = choose(arch)
            if chosen is not None:
                assert chosen.address is not None and torch_readable(chosen.address), (row["type"], chosen.address)
                written += 1
            elif any(c.url and c.url.endswith(".npz") for c in arch.checkpoints):
                refused.append(why)
    assert written > 100 and refused
    assert all("a format mmengine cannot read" in why and ".npz" in why for why in refused)


def _original_deit() -> dict[str, Any]:
    """DeiT's own repository saves ``{'model': state_dict}``: mmengine hands the wrapper a state dict
    whose one key is ``model``; timm's filter unwraps it."""
    import timm

    return {"model": timm.create_model("deit_tiny_patch16_224").state_dict()}


def _torchvision_regnet() -> dict[str, Any]:
    """timm publishes torchvision's RegNet weights in torchvision's own key layout (``stem.0``,
    ``trunk_output.block1.block1-0``); timm's filter renames them."""
    import torchvision

    return {"model": torchvision.models.regnet_y_400mf().state_dict()}


@pytest.mark.parametrize(
    ("backbone_type", "make", "suffix"),
    [("timm.deit_tiny_patch16_224", _original_deit, ".pth"), ("timm.regnety_004", _torchvision_regnet, ".pyth")],
)
def test_an_original_repositorys_checkpoint_loads_through_timms_filter(
    tmp_path: Path, backbone_type: str, make: Any, suffix: str
) -> None:
    """A checkpoint in its original repository's layout (a ``model`` wrapper, the repository's key
    names) loads into the timm wrapper through timm's own filter, as mmengine's ``Pretrained``
    initialisation runs it: every backbone tensor comes from the file, none is left missing."""
    from mmengine.config import Config

    from otxgen.libraries.quiet import quiet_libraries
    from otxgen.smoke import runtime

    saved = make()
    path = tmp_path / f"original{suffix}"
    torch.save(saved, path)
    folder = workspace(tmp_path, "classification")
    built = invoke(
        "build", "--backbone", backbone_type, "--weights", str(path), "--workspace", str(folder), "--no-smoke"
    )
    assert built.exit_code == 0, built.output
    config = Config.fromfile(str(folder / "model.py"))
    model = runtime.build_model(config, runtime.scope_of(config))
    with quiet_libraries():
        model.init_weights()
    published = fingerprints(saved["model"].values())
    loaded = {k: v for k, v in model.backbone.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert loaded and all(print_of(tensor) in published for tensor in loaded.values())
    check = invoke("smoke", str(folder / "model.py"), "--device", "cpu", "--weights-check", "--format", "json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)["weights"]
    assert report["counts"]["missing"] == 0 and report["uninitialised_share"] == 0


def test_a_relative_weights_path_is_written_so_that_it_still_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmengine reads a relative checkpoint path from the folder training runs in: into a model in
    another folder, the path the user gave (from here) is written absolute, and said; into a model
    here it stays as given."""
    folder = workspace(tmp_path, "detection")
    (tmp_path / "ckpt").mkdir()
    torch.save(_timm(), tmp_path / "ckpt" / "w.pth")
    monkeypatch.chdir(tmp_path)
    args = ("build", "--backbone", "timm.resnet18", "--weights", "ckpt/w.pth", "--no-smoke", "--no-backbone-yaml")
    result = invoke(*args, "--model", str(folder / "model.py"))
    assert result.exit_code == 0, result.output
    written = str((tmp_path / "ckpt" / "w.pth").resolve())
    assert backbone_of(folder / "model.py")["init_cfg"]["checkpoint"] == written
    assert f"weights: ckpt/w.pth written as {written}" in result.stderr
    here = tmp_path / "model.py"
    here.write_text((folder / "model.py").read_text())
    assert invoke(*args, "--weights", "none", "--model", "model.py").exit_code == 0
    assert invoke(*args, "--model", "model.py").exit_code == 0
    assert backbone_of(here)["init_cfg"]["checkpoint"] == "ckpt/w.pth"


def test_the_address_schemes_are_the_ones_mmengines_reader_fetches() -> None:
    """``--weights scheme://...`` is accepted for exactly the schemes mmengine's ``CheckpointLoader``
    registers (read from it; the one without ``://`` is its local-path fallback)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from otxgen.facts.checkpoints import ADDRESS_SCHEMES

    registered = {re.sub(r"^\(.*\)\?", "", prefix).removesuffix("://") for prefix in CheckpointLoader._schemes}
    assert set(ADDRESS_SCHEMES) == registered - {""}


def test_weights_check_counts_what_a_backbone_that_loads_itself_loads(tmp_path: Path) -> None:
    """mmseg's ViT reads its ``init_cfg`` checkpoint in its own ``init_weights`` and resizes the position
    embedding to its image size there: a checkpoint of another image size loads whole, so nothing is
    mismatched (mmengine's plain loading would leave ``pos_embed`` out); the rest is the checkpoint's."""
    from mmseg.models.backbones import VisionTransformer

    from otxgen.smoke.weights import weights_check

    small = {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "patch_size": 16}
    trained = VisionTransformer(img_size=32, **small)
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": trained.state_dict()}, path)
    backbone = VisionTransformer(img_size=64, **small)
    assert backbone.pos_embed.shape != trained.pos_embed.shape  # what mmengine's loading would leave out
    step = weights_check(backbone, path, None)
    assert step.state == "ok", step.detail
    assert step.data["counts"] == {"missing": 0, "unexpected": 0, "mismatched": 0}
    assert torch.equal(backbone.patch_embed.projection.weight, trained.patch_embed.projection.weight)
    assert backbone.init_cfg is None  # left as it was


def test_init_cfg_set_to_none_by_the_user_is_no_weights_not_auto() -> None:
    from otxgen.app.weights import plan_weights

    schema = load_schema("mmdet.ResNet")
    auto = plan_weights("auto", {"type": "mmdet.ResNet", "depth": 50}, schema, Path.cwd())
    assert auto.init_cfg is not None  # what --weights auto writes unasked
    given = plan_weights("auto", {"type": "mmdet.ResNet", "depth": 50, "init_cfg": None}, schema, Path.cwd())
    assert given.init_cfg is None and given.checkpoint is None


def test_a_checkpoint_a_backbone_yaml_names_is_held_to_the_rules_of_weights(tmp_path: Path) -> None:
    """A backbone.yaml's own ``init_cfg`` checkpoint that is not there (or not an address) is refused at its
    line, as ``--weights`` refuses it: training would stop at ``init_weights()``. Nothing is written."""
    folder = workspace(tmp_path, "detection")
    before = (folder / "model.py").read_text()
    for checkpoint, why in ((str(tmp_path / "missing.pth"), "no such file"), ("123", "not a URL or a checkpoint")):
        yaml_path = tmp_path / "backbone.yaml"
        yaml_path.write_text(
            "backbone:\n  type: mmdet.ResNet\n  depth: 18\n"
            f"  init_cfg:\n    type: Pretrained\n    checkpoint: {checkpoint}\n"
        )
        result = invoke("build", "--backbone", str(yaml_path), "--workspace", str(folder), "--no-smoke")
        assert result.exit_code == 2, result.output
        assert f"{yaml_path}:5:" in result.stderr and why in result.stderr  # at its init_cfg
        assert (folder / "model.py").read_text() == before
