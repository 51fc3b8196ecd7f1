"""Swaps of shipped configs whose consumers the plan, validate and the smoke-build once disagreed about,
each judged independently: mmengine loads the rewritten config, the library's registry builds the whole
model and it runs a forward (``tests/corpus/sample.py``'s ``build_and_forward``)."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus.sample import build_and_forward, load_config

from otxgen.cli import main


def shipped(library: str, relative: str, tmp_path: Path) -> Path:
    """A copy of a library's shipped config folder and its ``_base_`` folder, to rewrite freely."""
    root = Path(importlib.import_module(library).__file__ or "").parent / ".mim" / "configs"
    folder = relative.partition("/")[0]
    for name in (folder, "_base_"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path / relative


def swapped(model: Path, *backbone: str) -> str:
    result = CliRunner().invoke(main, ["build", "--backbone", *backbone, "--model", str(model), "--weights", "none"])
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
