"""``otxgen build`` as a user runs it: lay out a workspace, swap its backbone, look at the diff, check,
rebuild; on a standalone config with --model; and once with the smoke-build that ends a real build."""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from otxgen.cli import main

TASK_FILES = ["data.yaml", "data_pipeline.py", "model.py", "template.yaml"]
CLASSIFICATION_MODELS = ["model.py", "model_hierarchical.py", "model_multilabel.py"]
REGNET_ARCHS = [
    "regnetx_400mf",
    "regnetx_800mf",
    "regnetx_1.6gf",
    "regnetx_3.2gf",
    "regnetx_4.0gf",
    "regnetx_6.4gf",
    "regnetx_8.0gf",
    "regnetx_12gf",
]
STANDALONE = """\
# A RetinaNet config outside any workspace (as in an mmdet checkout, with the bases inlined).
default_scope = 'mmdet'

model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),  # frozen BN statistics
        norm_eval=True,
        style='pytorch',
    ),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],  # one per backbone stage
        out_channels=256,
        start_level=1,
        add_extra_convs='on_input',
        num_outs=5,
    ),
    bbox_head=dict(type='RetinaHead', num_classes=80, in_channels=256, stacked_convs=4, feat_channels=256),
)
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def stderr_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (the workspace's copies of schemas too): its bytes and its time."""
    found = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in found}


def workspace_for(task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = invoke("build", "--task", task)
    assert result.exit_code == 0, result.output
    folder = tmp_path / f"otx-workspace-{task.upper()}"
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return workspace_for("detection", tmp_path, monkeypatch)


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("task", ["classification", "detection", "instance-segmentation", "segmentation"])
def test_build_task_lays_out_a_workspace(task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("build", "--task", task)
    assert result.exit_code == 0, result.output
    folder = Path(f"otx-workspace-{task.upper()}")
    extra = ["model_hierarchical.py", "model_multilabel.py"] if task == "classification" else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(TASK_FILES + extra)
    lines = stderr_lines(result)
    assert lines[0] == f"[*] Workspace Path: {folder}"
    assert lines[1].startswith("[*] Load Model Template ID: ")
    assert lines[2].startswith("[*] Load Model Name: ")
    assert sorted(lines[3:]) == sorted(f"[*]     - Updated: {folder / name}" for name in TASK_FILES + extra)
    for model in folder.glob("model*.py"):
        ast.parse(model.read_text())


def test_build_backbone_prints_the_tutorial_lines_and_writes_backbone_yaml(detection: Path) -> None:
    result = invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke")
    assert result.exit_code == 0, result.output
    lines = stderr_lines(result)
    expected = [
        "[*] Backbone Config: mmdet.RegNet",
        "[*] mmdet.RegNet requires the argument : ['arch']",
        f"[*] 'arch' can choose between: {REGNET_ARCHS}",
        "[*] 'arch' default value: regnetx_400mf",
        f"[*] Save backbone configuration: {detection / 'backbone.yaml'}",
        f"[*] Save model configuration: {detection / 'model.py'}",
    ]
    assert [line for line in lines if line in expected] == expected  # all of them, in this order
    text = (detection / "backbone.yaml").read_text()
    prefix, _, reference = text.splitlines()[0].partition("$schema=")
    assert prefix == "# yaml-language-server: "
    assert json.loads((detection / reference).read_text())["title"] == "mmdet.RegNet"  # an editor finds it
    assert text.splitlines()[1:] == ["backbone:", "  type: mmdet.RegNet", "  arch: regnetx_400mf"]
    model = (detection / "model.py").read_text()
    assert "type='RegNet'," in model and "arch='regnetx_400mf'," in model
    assert "in_channels=[32, 64, 160, 384],  # one entry per backbone output, in order" in model


def test_diff_touches_only_backbone_neck_channels_and_normalisation_and_writes_nothing(detection: Path) -> None:
    before = files(detection)
    original = (detection / "model.py").read_text()
    result = invoke("build", "--backbone", "mmdet.RegNet", "--diff")
    assert result.exit_code == 0, result.output
    assert files(detection) == before
    assert "[*] Nothing was built or run (--diff executes nothing)" in result.stderr  # its reader is told
    assert result.stdout.startswith("--- /dev/null\n+++ b/backbone.yaml\n")  # every file the build writes
    model_diff = result.stdout[result.stdout.index("--- a/model.py\n+++ b/model.py\n") :]
    changed = changed_lines(model_diff)
    assert "+        type='RegNet'," in changed and "+        arch='regnetx_400mf'," in changed
    assert "+        in_channels=[32, 64, 160, 384],  # one entry per backbone output, in order" in changed
    block = []
    for head in ("    backbone=dict(", "    data_preprocessor=dict("):  # the weights' normalisation too
        start = original.index(head)
        block += original[start : original.index("\n    ),\n", start)].splitlines()
    for line in changed:
        assert line[1:] in block or "in_channels=" in line or line.startswith("+        "), line
    # RegNet's checkpoints were trained on BGR input: each preprocessor change is said
    assert "[*] model.py: data_preprocessor.bgr_to_rgb=False (was True)" in result.output


def test_check_exits_1_before_and_0_after_and_a_second_build_changes_nothing(detection: Path) -> None:
    before = files(detection)
    check = invoke("build", "--backbone", "mmdet.RegNet", "--check")
    assert check.exit_code == 1
    assert f"[!] Would change: {detection / 'model.py'}" in stderr_lines(check)
    assert files(detection) == before
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    assert invoke("build", "--backbone", "mmdet.RegNet", "--check").exit_code == 0
    assert invoke("build", "--backbone", "backbone.yaml", "--check").exit_code == 0
    built = files(detection)
    again = invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke")
    assert again.exit_code == 0
    assert f"[*] Unchanged: {detection / 'model.py'}" in stderr_lines(again)
    assert files(detection) == built  # bytes and mtimes


def test_a_required_argument_without_options_stops_before_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = workspace_for("segmentation", tmp_path, monkeypatch)
    # the template's model is an HRNet, whose extra a build of mmseg.HRNet keeps: start from another type
    assert invoke("build", "--backbone", "mmseg.ResNetV1c", "--set", "depth=18", "--no-smoke").exit_code == 0
    (folder / "backbone.yaml").unlink()
    models = {name: data for name, data in files(folder).items() if name.startswith("model")}
    result = invoke("build", "--backbone", "mmseg.HRNet", "--no-smoke")
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert "[!] mmseg.HRNet backbone has inputs that the user must enter." in lines
    assert "[!] Edit backbone.yaml and run 'otxgen build --backbone backbone.yaml'." in lines
    assert {name: data for name, data in files(folder).items() if name.startswith("model")} == models
    skeleton = (folder / "backbone.yaml").read_text().splitlines()
    assert skeleton[1:4] == [
        "backbone:",
        "  type: mmseg.HRNet",
        "# 'extra' must be filled in; an example from the schema:",
    ]
    again = invoke("build", "--backbone", "backbone.yaml", "--no-smoke")  # not filled in yet: invalid input
    assert again.exit_code == 2
    assert re.search(r"backbone.yaml:\d+:\d+: backbone: 'extra' is a required property", again.stderr), again.stderr
    # the commented example, uncommented (nothing else to edit), is a valid HRNet-W18
    filled = skeleton[:3] + [line.removeprefix("# ") for line in skeleton[4:]]
    (folder / "backbone.yaml").write_text("\n".join(filled) + "\n")
    assert invoke("validate", "backbone.yaml").exit_code == 0
    done = invoke("build", "--backbone", "backbone.yaml", "--no-smoke")
    assert done.exit_code == 0, done.output
    assert "in_channels=[18, 36, 72, 144]" in (folder / "model.py").read_text()


def test_set_is_honoured_and_a_bad_value_names_the_allowed_ones(detection: Path) -> None:
    result = invoke("build", "--backbone", "mmdet.RegNet", "--set", "arch=regnetx_800mf", "--no-smoke")
    assert result.exit_code == 0, result.output
    assert "  arch: regnetx_800mf" in (detection / "backbone.yaml").read_text()
    assert "arch='regnetx_800mf'," in (detection / "model.py").read_text()
    bad = invoke("build", "--backbone", "mmdet.RegNet", "--set", "arch=nope", "--no-smoke")
    assert bad.exit_code == 2
    assert f"'nope' is not one of {REGNET_ARCHS}" in bad.stderr


def test_a_dotted_set_changes_one_key_of_an_arguments_mapping(detection: Path) -> None:
    """``--set norm_cfg.type=GN`` merges into the argument as the schema's default gives it (mmengine's
    nested-dict merge): the other keys of the default stay; the type itself is still not a KEY."""
    from otxgen.schema.store import load_schema

    default = load_schema("mmdet.ResNet")["properties"]["norm_cfg"]["default"]
    sets = ("--set", "norm_cfg.type=GN", "--set", "norm_cfg.num_groups=32")
    result = invoke("build", "--backbone", "mmdet.ResNet", *sets, "--no-smoke")
    assert result.exit_code == 0, result.output
    block = _backbone_block((detection / "model.py").read_text())
    assert "type='GN'" in block and "num_groups=32" in block
    for key, value in default.items():
        if key != "type":
            assert f"{key}={value!r}" in block, (key, block)
    bad = invoke("build", "--backbone", "mmdet.ResNet", "--set", "type.x=1", "--no-smoke")
    assert bad.exit_code == 2 and "KEY must be an argument name, or a dotted path into one" in bad.stderr


def test_model_option_rewrites_a_standalone_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "configs" / "retinanet_r50_fpn.py"
    config.parent.mkdir()
    config.write_text(STANDALONE)
    result = invoke("build", "--backbone", "mmdet.RegNet", "--model", str(config), "--no-smoke")
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "type='RegNet'," in text and "arch='regnetx_400mf'," in text and "depth=50" not in text
    assert "in_channels=[32, 64, 160, 384],  # one per backbone stage" in text
    assert "custom_imports" not in text  # default_scope = 'mmdet' registers RegNet already
    assert text.startswith("# A RetinaNet config outside any workspace")
    assert not (tmp_path / "backbone.yaml").exists() and not (config.parent / "backbone.yaml").exists()
    assert invoke("build", "--backbone", "mmdet.RegNet", "--model", str(config), "--check").exit_code == 0
    yaml = tmp_path / "records" / "regnet.yaml"  # only where asked
    yaml.parent.mkdir()
    asked = invoke(
        "build", "--backbone", "mmdet.RegNet", "--model", str(config), "--backbone-yaml", str(yaml), "--no-smoke"
    )
    assert asked.exit_code == 0 and yaml.exists(), asked.output
    assert invoke("build", "--backbone", str(yaml), "--model", str(config), "--check").exit_code == 0


def test_two_configs_of_one_folder_take_two_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(STANDALONE)
    second.write_text(STANDALONE)
    assert invoke("build", "--backbone", "mmdet.RegNet", "--model", str(first), "--no-smoke").exit_code == 0
    other = invoke("build", "--backbone", "torchvision.resnet18", "--model", str(second), "--no-smoke")
    assert other.exit_code == 0, other.output
    assert "type='RegNet'," in first.read_text() and "type='torchvision.resnet18'," in second.read_text()
    assert list(tmp_path.glob("*.yaml")) == []


CHILD = "_base_ = ['../_base_/models/retina.py']\nmodel = dict(\n    backbone=dict(type='ResNet', depth=101))\n"
BASE_WITH_BACKBONE = "model = dict(\n    backbone=dict(type='ResNet', depth=50),\n    neck=dict(type='FPN'))\n"
BASE_WITHOUT_BACKBONE = "model = dict(type='RetinaNet')\n"


@pytest.mark.parametrize(
    ("base", "delete", "neck"),
    [(BASE_WITH_BACKBONE, True, True), (BASE_WITHOUT_BACKBONE, False, False)],
    ids=["base-defines-backbone-and-neck", "base-without-backbone"],
)
def test_model_option_reads_the_base_files_to_know_what_is_inherited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str | None, delete: bool, neck: bool
) -> None:
    """``_delete_=True`` only over a base that defines the backbone (mmengine would pass it on to the
    constructor otherwise); the neck's channels are added over a base that defines the neck."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "configs" / "retina" / "child.py"
    config.parent.mkdir(parents=True)
    config.write_text(CHILD)
    if base is not None:
        (tmp_path / "configs" / "_base_" / "models").mkdir(parents=True)
        (tmp_path / "configs" / "_base_" / "models" / "retina.py").write_text(base)
    result = invoke("build", "--backbone", "mmdet.RegNet", "--model", str(config), "--no-smoke")
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert ("_delete_=True" in text) is delete, text
    assert ("neck=dict(in_channels=[32, 64, 160, 384])" in text) is neck, text
    assert "type='mmdet.RegNet'" in text and "depth=101" not in text  # no default_scope here: scoped
    assert invoke("build", "--backbone", "mmdet.RegNet", "--model", str(config), "--check").exit_code == 0


def test_a_base_file_that_cannot_be_read_is_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the missing base defines is unknown: build refuses (exit 2, naming it) instead of guessing."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "configs" / "retina" / "child.py"
    config.parent.mkdir(parents=True)
    config.write_text(CHILD)
    result = invoke("build", "--backbone", "mmdet.RegNet", "--model", str(config), "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "_base_/models/retina.py cannot be read" in result.stderr
    assert config.read_text() == CHILD


@pytest.mark.parametrize("backbone", ["torchvision.resnet18"])
def test_a_torchvision_or_pytorchcv_backbone_adds_custom_imports(detection: Path, backbone: str) -> None:
    library = backbone.partition(".")[0]
    result = invoke("build", "--backbone", backbone, "--no-smoke")
    assert result.exit_code == 0, result.output
    text = (detection / "model.py").read_text()
    assert re.search(r"^custom_imports = dict\(imports=\[.*'otxgen\.libraries.*'\]", text, re.MULTILINE), text
    assert f"type='{library}." in text


def test_another_mm_library_in_a_detection_workspace_adds_custom_imports(detection: Path) -> None:
    result = invoke("build", "--backbone", "mmseg.ResNetV1c", "--no-smoke")
    assert result.exit_code == 0, result.output
    text = (detection / "model.py").read_text()
    assert "custom_imports = dict(imports=['mmseg.models'], allow_failed_imports=False)" in text
    assert "type='mmseg.ResNetV1c'," in text


def test_a_classification_workspace_rewrites_all_three_model_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = workspace_for("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmpretrain.RegNet", "--no-smoke")
    assert result.exit_code == 0, result.output
    lines = stderr_lines(result)
    for name in CLASSIFICATION_MODELS:
        assert f"[*] Save model configuration: {folder / name}" in lines
        text = (folder / name).read_text()
        assert "type='RegNet'," in text and "arch='regnetx_400mf'," in text
        assert "in_channels=384," in text
    assert invoke("build", "--backbone", "backbone.yaml", "--check").exit_code == 0


def test_a_full_build_with_its_smoke_build_exits_0(detection: Path) -> None:
    """The one test that runs the smoke-build: it executes the rewritten config (CPU here)."""
    result = invoke("build", "--backbone", "mmdet.RegNet")
    assert result.exit_code == 0, result.output
    assert "[*] Smoke-build (executes the rewritten config; skip with --no-smoke)" in stderr_lines(result)


def test_a_model_whose_smoke_build_fails_is_not_left_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mmpretrain's LeNet5 reads one channel (MNIST), which no table says (a probe tries its channels):
    the plan passes, the whole model's forward on the classifier's RGB images fails, and the workspace
    is as it was (backbone.yaml, which the build created, removed)."""
    folder = workspace_for("classification", tmp_path, monkeypatch)
    before = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
    result = invoke("build", "--backbone", "mmpretrain.LeNet5", "--weights", "none")
    assert result.exit_code == 1, result.output
    assert "to have 1 channels" in result.output
    assert "[!] Fix the cause, or build with --no-smoke to write it anyway" in stderr_lines(result)
    assert {path.name: path.read_text() for path in folder.iterdir() if path.is_file()} == before


@pytest.mark.parametrize("backbone", ["mmseg.BiSeNetV2", "mmpretrain.MlpMixer"])
def test_a_classifier_takes_levels_in_any_stride_order_and_tokens(
    backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were refused by the level check (strides 8, 4, 8, 16, 32; (N, C, L) tokens under a pooling neck
    of dim=1), though the classifier reads the last output alone: built, smoke-built, then built and run
    independently by mmpretrain's registry."""
    from corpus.sample import build_and_forward, load_config

    folder = workspace_for("classification", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", backbone, "--weights", "none")
    assert result.exit_code == 0, result.output
    build_and_forward("mmpretrain", load_config(folder / "model.py"), 224, 300)


def test_an_anchor_free_heads_strides_are_kept(tmp_path: Path) -> None:
    """FCOS keeps its strides in bbox_head.strides (no anchor generator): out_indices that put the FPN's
    first level at 16 are refused; left to otxgen, they are chosen for 8, 16, 32."""
    import importlib

    root = Path(importlib.import_module("mmdet").__file__ or "").parent / ".mim" / "configs"
    for name in ("fcos", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "fcos" / "fcos_r50-caffe_fpn_gn-head_1x_coco.py"
    args = ("build", "--backbone", "mmdet.ResNet", "--set", "depth=18", "--model", str(model), "--weights", "none")
    refused = invoke(*args, "--set", "out_indices=[1,2,3]", "--no-smoke")
    assert refused.exit_code == 2, refused.output
    assert "bbox_head.strides[0] (through FPN start_level=1) expects 8" in refused.stderr
    assert invoke(*args, "--no-smoke").exit_code == 0


def test_the_smoke_build_gives_the_model_the_configs_top_level_data_preprocessor(tmp_path: Path) -> None:
    """mmpretrain's DeiT config sets its batch augments' num_classes in a top-level data_preprocessor,
    which mmengine's Runner merges into the model: without it the forward failed and the build was
    rolled back (found by a hostile pass)."""
    import importlib

    root = Path(importlib.import_module("mmpretrain").__file__ or "").parent / ".mim" / "configs"
    for name in ("deit", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "deit" / "deit-tiny_4xb256_in1k.py"
    result = invoke("build", "--backbone", "torchvision.resnet18", "--model", str(model), "--weights", "none")
    assert result.exit_code == 0, result.output
    assert "forward ok" in result.output


def test_a_model_that_does_not_build_in_the_smoke_build_is_not_left_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way a smoke-build fails: the written config does not load or build (exit 2). A config
    that passes the plan and then fails to build is rare by design, so the build is made to fail here
    (the only stand-in in this file), after the real load of the real rewritten config."""
    import otxgen.smoke.runtime
    from otxgen.errors import InputError

    def refuse(config: object, scope: str, backbone_dtype: str = "float32") -> object:
        raise InputError("cannot build the model: RuntimeError: as a constructor would")

    folder = workspace_for("detection", tmp_path, monkeypatch)
    before = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
    monkeypatch.setattr(otxgen.smoke.runtime, "build_model", refuse)
    result = invoke("build", "--backbone", "torchvision.resnet18", "--weights", "none")
    assert result.exit_code == 2, result.output
    assert "cannot build the model" in result.stderr and "back as they were" in result.stderr
    assert {path.name: path.read_text() for path in folder.iterdir() if path.is_file()} == before


def test_a_smoke_build_that_itself_fails_leaves_the_files_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error otxgen did not foresee inside the smoke-build (a TypeError stands in for one) is an
    internal error (exit 3), and the files it could not check are back as they were."""
    import otxgen.smoke.runtime

    def broken(config: object, scope: str, backbone_dtype: str = "float32") -> object:
        raise TypeError("as an unforeseen error would")

    folder = workspace_for("detection", tmp_path, monkeypatch)
    before = {path.name: path.read_text() for path in folder.iterdir() if path.is_file()}
    monkeypatch.setattr(otxgen.smoke.runtime, "build_model", broken)
    result = invoke("build", "--backbone", "torchvision.resnet18", "--weights", "none")
    assert result.exit_code == 3 and "internal error: TypeError" in result.stderr, result.output
    assert "back as they were" in result.stderr
    assert {path.name: path.read_text() for path in folder.iterdir() if path.is_file()} == before


def test_the_new_backbone_keeps_the_strides_the_neck_and_heads_were_built_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmdet's YOLOX-S feeds its neck and its prior generator at strides 8, 16, 32 (CSPDarknet's
    out_indices (2, 3, 4)); RegNet's default outputs start at stride 4, so the build picks
    out_indices (1, 2, 3), and the real config (with its _base_ files) then smoke-builds."""
    import mmdet

    configs = Path(mmdet.__file__).parent / ".mim" / "configs"
    for folder in ("_base_", "yolox"):
        shutil.copytree(configs / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path / "yolox")
    result = invoke("build", "--backbone", "mmdet.RegNet", "--model", "yolox_s_8xb8-300e_coco.py")
    assert result.exit_code == 0, result.output
    assert "out_indices=(1, 2, 3) keeps the strides its neck expects (8, 16, 32)" in result.stderr
    text = (tmp_path / "yolox" / "yolox_s_8xb8-300e_coco.py").read_text()
    assert "out_indices=(1, 2, 3)," in text and "in_channels=[64, 160, 384]," in text
    assert (
        invoke("build", "--backbone", "mmdet.RegNet", "--model", "yolox_s_8xb8-300e_coco.py", "--check").exit_code == 0
    )


def test_an_explicit_out_indices_is_the_users_choice(detection: Path) -> None:
    """Not replaced by one that keeps the strides: written when it fits, refused when it does not."""
    result = invoke("build", "--backbone", "mmdet.RegNet", "--set", "out_indices=[0, 1, 2, 3]", "--no-smoke")
    assert result.exit_code == 0, result.output
    assert "keeps the strides" not in result.stderr
    assert "in_channels=[32, 64, 160, 384]," in (detection / "model.py").read_text()
    before = (detection / "model.py").read_text()
    result = invoke("build", "--backbone", "mmdet.RegNet", "--set", "out_indices=[1, 2, 3]", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert "keeps the strides" not in result.stderr and "choose out_indices" in result.stderr
    assert "level 1: stride 16, bbox_head.anchor_generator.strides[0] (through FPN start_level=1) expects 8" in (
        result.stderr
    )
    assert (detection / "model.py").read_text() == before


@pytest.mark.parametrize(
    ("task", "backbone", "problem"),
    [
        # Fast-SCNN's third output (the fused one) is back at stride 8: no pyramid of anchors fits it
        ("detection", "mmseg.FastSCNN", "level 2: stride 8 after stride 32; strides must be strictly increasing"),
    ],
)
def test_static_refuses_what_the_smoke_build_would_reject(
    task: str, backbone: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan holds the table's levels against the facts the smoke-build checks (one list of them):
    refused before writing, with the smoke-build's own words; with that check switched off, the
    written config fails its smoke-build on the same problem."""
    folder = workspace_for(task, tmp_path, monkeypatch)
    before = files(folder)
    refused = invoke("build", "--backbone", backbone, "--no-smoke")
    assert refused.exit_code == 2, refused.output
    assert problem in refused.stderr and "do not fit the model" in refused.stderr
    assert files(folder) == before

    import otxgen.app.plan

    monkeypatch.setattr(otxgen.app.plan, "_refuse_misfit_levels", lambda *args: None)
    assert invoke("build", "--backbone", backbone, "--no-smoke").exit_code == 0
    smoke = invoke("smoke", "model.py", "--device", "cpu", "--format", "json")
    assert smoke.exit_code == 1, smoke.output
    assert problem in smoke.stdout


@pytest.mark.parametrize("backbone", ["mmseg.FastSCNN", "mmseg.BiSeNetV2"])
def test_a_resizing_decode_head_reads_levels_in_any_order_of_strides(
    backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fast-SCNN's fused output and BiSeNetV2's aggregated one come first at stride 8, before finer
    levels: FCN resizes every level it reads to the first one's size, so no order is required (the
    detector above refuses the same levels). Built, run, and found sound by validate."""
    workspace_for("segmentation", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", backbone, "--weights", "none")
    assert result.exit_code == 0, result.output
    assert "forward (mode='tensor'): ok" in result.stderr
    assert invoke("validate", "model.py").exit_code == 0


def test_a_stage_is_asked_for_twice_only_where_the_backbone_gives_it_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LR-ASPP was built for a dilated MobileNetV3's strides 2, 4 and 8. mmpretrain's MobileNetV3 has
    them in three stages. A ResNet's first stage is at stride 4, so 2, 4, 8 becomes 4, 4, 8 from
    out_indices=(0, 0, 1): timm's ResNet gives stage 0 twice and runs; mmdet's ResNet gives it once,
    two outputs for a head that reads three, so it would get three stages at those strides or coarser, 4,
    8, 16, where LR-ASPP's fixed pooling window, made for a stride-8 map, does not fit: it is refused
    before anything is written, naming the way forward, a dilated ResNet (4, 8, 8), which builds and runs."""
    monkeypatch.chdir(tmp_path)
    assert invoke("build", "--task", "segmentation", "--template", "segmentation-lraspp-mobilenetv3").exit_code == 0
    folder = tmp_path / "otx-workspace-SEGMENTATION"
    monkeypatch.chdir(folder)
    original = (folder / "model.py").read_text()
    result = invoke("build", "--backbone", "mmpretrain.MobileNetV3", "--weights", "none")
    assert result.exit_code == 0, result.output
    assert "out_indices=(0, 1, 3) keeps the strides its heads expect (2, 4, 8)" in result.stderr

    (folder / "model.py").write_text(original)
    result = invoke("build", "--backbone", "timm.resnet18", "--weights", "none")
    assert result.exit_code == 0, result.output
    assert "out_indices=(0, 0, 1): strides 4, 4, 8 for the 2, 4, 8 its heads were built for" in result.stderr

    (folder / "model.py").write_text(original)
    refused = invoke("build", "--backbone", "mmdet.ResNet", "--weights", "none", "--no-smoke")
    assert refused.exit_code == 2, refused.output
    window = "LRASPPHead average-pools a 49-cell window over the last level it reads, which the new backbone gives"
    assert (
        f"{window} at stride 16: images of at least 784 px, where the config was built for stride 8" in refused.stderr
    )
    assert "(or a backbone, or its dilation arguments)" in refused.stderr
    assert (folder / "model.py").read_text() == original
    dilated = ["--set", "strides=[1, 2, 1, 1]", "--set", "dilations=[1, 1, 2, 4]"]
    written = invoke("build", "--backbone", "mmdet.ResNet", *dilated, "--weights", "none")
    assert written.exit_code == 0, written.output
    assert "out_indices=(0, 1, 2): strides 4, 8, 8 for the 2, 4, 8 its heads were built for" in written.stderr
    assert "in_channels=(64, 128, 256)," in (folder / "model.py").read_text()
    # the user's own repeats are probed too: mmpretrain's ConvNeXt gives stage 0 once
    args = ["--set", "arch=atto", "--set", "out_indices=[0, 0, 1]", "--weights", "none", "--no-smoke"]
    repeated = invoke("build", "--backbone", "mmpretrain.ConvNeXt", *args)
    assert repeated.exit_code == 2 and "built for that many, the backbone gives 2" in repeated.stderr, repeated.output


def test_a_segmentor_keeps_the_levels_its_heads_read_where_the_old_table_cannot_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmseg's HRNet has no channel table (its stages are in ``extra``) and a dilated ResNet's strides are
    not its table's: their strides are probed. ConvNeXt gives its last stage alone by default; it once
    went in with that one level at stride 32 for heads built for four (FCN over HRNet) or for a stride-4
    low-level input (DeepLabV3+). It now gives its four stages."""
    workspace_for("segmentation", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmpretrain.ConvNeXt", "--set", "arch=atto", "--weights", "none")
    assert result.exit_code == 0, result.output  # smoke-built
    assert "out_indices=(0, 1, 2, 3) keeps the strides its heads expect (4, 8, 16, 32)" in result.stderr
    assert "4 backbone outputs fit" in result.stderr

    shipped = Path(importlib.import_module("mmseg").__file__ or "").parent / ".mim/configs/_base_/models"
    config = tmp_path / "deeplabv3plus_r50-d8.py"
    shutil.copy(shipped / config.name, config)
    args = ["--model", str(config), "--no-backbone-yaml", "--weights", "none", "--no-smoke"]
    result = invoke("build", "--backbone", "mmpretrain.ConvNeXt", "--set", "arch=atto", *args)
    assert result.exit_code == 0, result.output
    assert "out_indices=(0, 1, 2, 3): strides 4, 8, 16, 32 for the 4, 8, 8, 8 its heads were built for" in (
        result.stderr
    )
    assert "the heads get 4x coarser maps" in result.stderr
    assert invoke("validate", str(config)).exit_code == 0


def test_darknet_keeps_the_strides_now_that_its_table_has_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Darknet's stage table once lacked its stride-32 stage, so no out_indices kept ATSS's strides and
    the swap was refused; with every stage counted, stages 2-5 give strides 4 to 32 and the model runs."""
    folder = workspace_for("detection", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmdet.Darknet")
    assert result.exit_code == 0, result.output
    assert "out_indices=(2, 3, 4, 5) keeps the strides its neck expects (4, 8, 16, 32)" in result.stderr
    assert "out_indices=(2, 3, 4, 5)" in (folder / "model.py").read_text()


def test_an_option_at_the_old_types_default_is_not_carried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Mask R-CNN template's ResNet has frozen_stages=-1, its default (nothing frozen): out of
    EfficientNet's range, so EfficientNet keeps its own default and the model builds; a value the
    config chose (frozen_stages=1) is carried."""
    folder = workspace_for("instance-segmentation", tmp_path, monkeypatch)
    result = invoke("build", "--backbone", "mmdet.EfficientNet")
    assert result.exit_code == 0, result.output
    backbone = _backbone_block((folder / "model.py").read_text())
    assert "frozen_stages" not in backbone and "EfficientNet" in backbone

    (tmp_path / "chosen").mkdir()
    folder = workspace_for("detection", tmp_path / "chosen", monkeypatch)
    model = folder / "model.py"
    model.write_text(model.read_text().replace("frozen_stages=-1,", "frozen_stages=1,", 1))
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    assert "frozen_stages=1," in _backbone_block(model.read_text())


def _backbone_block(text: str) -> str:
    start = text.index("backbone=dict(")
    return text[start : text.index("neck=", start)]


@pytest.mark.parametrize(("depth", "kept"), [(18, False), (50, True)])
def test_a_constructor_that_asks_the_backbone_is_kept_only_where_it_answers(
    depth: int, kept: bool, tmp_path: Path
) -> None:
    """mmpretrain's layer-decay constructor asks the backbone for each parameter's depth, which its
    ResNet answers for 50 layers and more and raises for 18 (the library's own code decides: build asks
    the backbone, built alone). Where it would not answer, build writes mmengine's default constructor;
    either way the whole model's optimizer builds (a hostile pass: mmdet.RegNet and mmseg.ResNetV1c into
    a config with this constructor exited 0, and training could not build its optimizer)."""
    from corpus.sample import build_and_forward, load_config

    model = tmp_path / "model.py"
    model.write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=50),\n"
        "             neck=dict(type='GlobalAveragePooling'),\n"
        "             head=dict(type='LinearClsHead', num_classes=10, in_channels=2048))\n"
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),\n"
        "                     constructor='LearningRateDecayOptimWrapperConstructor',\n"
        "                     paramwise_cfg=dict(layer_decay_rate=0.65))\n"
        "default_scope = 'mmpretrain'\n"
    )
    args = ["build", "--backbone", "mmpretrain.ResNet", "--set", f"depth={depth}", "--model", str(model)]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 0, result.output
    cfg = load_config(model)
    assert (cfg.optim_wrapper.constructor == "LearningRateDecayOptimWrapperConstructor") is kept
    assert ("replaced LearningRateDecayOptimWrapperConstructor" in result.stderr) is not kept
    build_and_forward("mmpretrain", cfg, 64, 120)


def test_fastfcns_jpu_keeps_its_three_levels_and_the_auxiliary_head_reads_the_one_passed(tmp_path: Path) -> None:
    """JPU's outputs are its inputs but the last, then the fused map: four levels would move the fused map
    from the decode head's index, so a backbone that gives four is refused with the out_indices that give
    three; with them, the auxiliary head reads the backbone's level passed through (a hostile pass: the
    written model read a raw level where the head wanted 2,048 channels)."""
    from corpus.sample import build_and_forward, load_config

    root = Path(importlib.import_module("mmseg").__file__ or "").parent / ".mim" / "configs"
    for name in ("fastfcn", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "fastfcn" / "fastfcn_r50-d32_jpu_psp_4xb4-80k_ade20k-512x512.py"
    args = ["build", "--backbone", "mmdet.RegNet", "--model", str(model), "--weights", "none", "--no-smoke"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "--set out_indices=[1, 2, 3]" in refused.output
    result = CliRunner().invoke(main, [*args, "--set", "out_indices=[1,2,3]"])
    assert result.exit_code == 0, result.output
    cfg = load_config(model)
    assert cfg.model.auxiliary_head.in_channels == cfg.model.neck.in_channels[1]
    build_and_forward("mmseg", cfg, 128, 120)


def test_a_run_of_one_stride_takes_the_deepest_stages_at_it(tmp_path: Path) -> None:
    """ANN's levels at 4, 8, 8, 8 from mmseg's dilated MobileNetV3, which has 13 stages at stride 8: the
    three deepest, so the loss reaches every stage of the backbone (the first three at stride 8 were taken,
    and 2.9 of its 3 million parameters got no gradient: a hostile pass)."""
    root = Path(importlib.import_module("mmseg").__file__ or "").parent / ".mim" / "configs"
    for name in ("ann", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "ann" / "ann_r101-d8_4xb4-160k_ade20k-512x512.py"
    args = ["build", "--backbone", "mmseg.MobileNetV3", "--set", "arch=large", "--model", str(model)]
    result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
    assert result.exit_code == 0, result.output
    smoked = CliRunner().invoke(main, ["smoke", str(model), "--train-step", "--input-size", "128", "--format", "json"])
    assert smoked.exit_code == 0, smoked.output
    train = json.loads(smoked.stdout)["train_step"]
    assert train["state"] == "ok" and train["tensors_without_gradient"] == []
    assert train["backbone_tensors_with_gradient"] == train["backbone_trainable_tensors"]


def test_a_kept_decay_constructor_counts_the_new_backbones_layers_as_the_library_does(tmp_path: Path) -> None:
    """mmdet's ConvNeXt-T Cascade Mask R-CNN decays over num_layers=6; swapped to ConvNeXt-S, the count is
    the one mmdet's own ConvNeXt-S config of that model sets (read from it), and swapped back it is 6 again
    (the refit only raised the count, and by one less than the library's: hostile passes)."""
    from mmengine.config import Config

    root = Path(importlib.import_module("mmdet").__file__ or "").parent / ".mim" / "configs"
    for name in ("convnext", "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    model = tmp_path / "convnext" / "cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py"
    small = Config.fromfile(root / "convnext" / model.name.replace("convnext-t", "convnext-s"))
    tiny = Config.fromfile(model)
    for arch, wanted in (("small", small), ("tiny", tiny)):
        args = ["build", "--backbone", "mmpretrain.ConvNeXt", "--set", f"arch={arch}", "--model", str(model)]
        result = CliRunner().invoke(main, [*args, "--weights", "none", "--no-smoke"])
        assert result.exit_code == 0, result.output
        written = Config.fromfile(model).optim_wrapper.paramwise_cfg.num_layers
        assert written == wanted.optim_wrapper.paramwise_cfg.num_layers, arch


def test_a_workspace_build_of_the_type_its_backbone_yaml_records_changes_that_record(tmp_path: Path) -> None:
    """``--set frozen_stages=2`` after ``--set depth=101`` keeps depth 101 (it went back to the starting 18,
    with ResNet-18's checkpoint and neck); the ResNet-101 weights stay, as the parameters do."""
    folder = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", "detection", "--workspace", str(folder)]).exit_code == 0
    deeper = ["build", "--backbone", "mmdet.ResNet", "--set", "depth=101", "--workspace", str(folder), "--no-smoke"]
    assert CliRunner().invoke(main, deeper).exit_code == 0
    before = (folder / "model.py").read_text()
    frozen = [*deeper[:3], "--set", "frozen_stages=2", "--workspace", str(folder), "--no-smoke"]
    result = CliRunner().invoke(main, frozen)
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((folder / "backbone.yaml").read_text())["backbone"]
    assert recorded["depth"] == 101 and recorded["frozen_stages"] == 2
    after = (folder / "model.py").read_text()
    assert "torchvision://resnet101" in before and "torchvision://resnet101" in after and "depth=101" in after


def test_each_model_of_a_same_type_swap_says_the_backbone_it_got(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ResNet models of one workspace, 50 and 101 deep, and ``--set frozen_stages=2`` without a record:
    each keeps its own depth, and the closing lines say so per model instead of one depth for both."""
    folder = workspace_for("detection", tmp_path, monkeypatch)
    assert invoke("build", "--backbone", "mmdet.ResNet", "--set", "depth=50", "--no-smoke").exit_code == 0
    text = (folder / "model.py").read_text()
    (folder / "model_deeper.py").write_text(text.replace("depth=50", "depth=101"))
    result = invoke("build", "--backbone", "mmdet.ResNet", "--set", "frozen_stages=2", "--no-backbone-yaml")
    assert result.exit_code == 0, result.output
    assert "Backbone config (model.py): {'type': 'mmdet.ResNet', 'depth': 50, 'frozen_stages': 2}" in result.stderr
    assert "Backbone config (model_deeper.py): {'type': 'mmdet.ResNet', 'depth': 101, " in result.stderr
    assert "depth=101" in (folder / "model_deeper.py").read_text()


def test_a_workspace_build_of_its_models_type_keeps_its_required_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segmentation template's model is an HRNet-W18: ``build --backbone mmseg.HRNet`` (no backbone.yaml
    yet) takes the ``extra`` it has, which has no options to start from, instead of stopping for it."""
    folder = workspace_for("segmentation", tmp_path, monkeypatch)
    before = (folder / "model.py").read_text()
    result = invoke("build", "--backbone", "mmseg.HRNet", "--no-smoke")
    assert result.exit_code == 0, result.output
    assert "model.py has a mmseg.HRNet already: extra=" in result.stderr
    assert yaml.safe_load((folder / "backbone.yaml").read_text())["backbone"]["extra"]["stage4"]["num_channels"]
    assert (folder / "model.py").read_text() == before


def test_a_workspace_backbone_yaml_that_does_not_read_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record a build rewrites, hand-edited into invalid YAML (or an OTX 1.x ``model:`` file): the build
    refuses at it rather than overwrite it and build from the type's starting values (ResNet-101 became 18)."""
    folder = workspace_for("detection", tmp_path, monkeypatch)
    for text, where in (
        ("backbone:\n  type: mmdet.ResNet\n  depth: [101\n", ":4:1: invalid YAML"),
        ("model: {}\n", ":1:1: "),
    ):
        (folder / "backbone.yaml").write_text(text)
        before = files(folder)
        result = invoke("build", "--backbone", "mmdet.ResNet", "--set", "frozen_stages=2", "--no-smoke")
        assert result.exit_code == 2 and f"backbone.yaml{where}" in result.stderr, result.stderr
        assert "the record of the workspace's backbone: fix it, or remove it" in result.stderr
        assert files(folder) == before


@pytest.mark.parametrize("given", ["(0, 1, 2, 3)", "(0,1,2,3,)"])
def test_a_python_tuple_given_with_set_is_a_tuple(detection: Path, given: str) -> None:
    """YAML reads ``(0, 1, 2, 3)`` as text, which no backbone takes; configs write tuples so."""
    result = invoke("build", "--backbone", "mmdet.RegNet", "--set", f"out_indices={given}", "--no-smoke")
    assert result.exit_code == 0, result.output
    assert "out_indices=(0, 1, 2, 3)," in (detection / "model.py").read_text()
    assert "out_indices: [0, 1, 2, 3]" in (detection / "backbone.yaml").read_text()
