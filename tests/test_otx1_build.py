"""OTX 1.x-form workspaces swapped end to end (``fixtures/otx1``): ``otxgen build --backbone`` (its own
smoke-build included) exits 0, validate accepts what it wrote, and the swapped model, loaded the way
OTX 1.x loaded it, builds in its library's registry and runs a forward.

The loader here is independent of otxgen's config view: mmengine loads each file, and the bases are
combined with mmengine's own ``Config._merge_a_into_b`` in OTX 1.x's order (what the bases before have
gathered is merged into the next one), then the file's own names over them."""

from __future__ import annotations

import copy
import importlib
import runpy
import shutil
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from mmengine.config import Config
from mmengine.registry import init_default_scope

from otxgen.cli import main

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "otx1"
LIBRARY = {"detection-atss": "mmdet", "classification-resnet": "mmpretrain", "segmentation-fcn": "mmseg"}
TARGETS = ("torchvision.resnet18", "mmdet.RegNet", "timm.resnet18")


def otx_load(path: Path) -> dict[str, Any]:
    """A config file's names as OTX 1.x's loader gave them (``_base_`` a string or a list)."""
    names = _python(path) if path.suffix == ".py" else _data(path)
    entries = names.pop("_base_", [])
    gathered: dict[str, Any] = {}
    for entry in [entries] if isinstance(entries, str) else entries:
        base = otx_load(path.parent / entry)
        gathered = Config._merge_a_into_b(gathered, base) if gathered.keys() & base.keys() else {**gathered, **base}
    return Config._merge_a_into_b(names, gathered) if entries else names


def _python(path: Path) -> dict[str, Any]:
    """One Python config file executed on its own, as mmcv did, without following its ``_base_``."""
    executed = runpy.run_path(str(path))
    return {k: v for k, v in executed.items() if not k.startswith("__") and not isinstance(v, types.ModuleType)}


def _data(path: Path) -> dict[str, Any]:
    import mmengine

    loaded: dict[str, Any] = mmengine.load(str(path))
    return loaded


def build_and_forward(library: str, model_cfg: dict[str, Any]) -> None:
    init_default_scope(library)
    registry = importlib.import_module(f"{library}.registry").MODELS
    model = registry.build(copy.deepcopy(model_cfg)).eval()
    with torch.no_grad():
        model(torch.rand(1, 3, 128, 128), mode="tensor")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_an_otx1_workspace_swaps_and_the_model_runs(tmp_path: Path, name: str, target: str) -> None:
    case = tmp_path / name
    shutil.copytree(CASES / name, case)
    model = case / "model.py"
    before = otx_load(model)["model"]
    result = CliRunner().invoke(main, ["build", "--backbone", target, "--model", str(model), "--weights", "none"])
    assert result.exit_code == 0, result.output
    assert "merged as OTX 1.x merges bases" in result.stderr
    assert CliRunner().invoke(main, ["validate", str(model)]).exit_code == 0
    loaded = otx_load(model)
    after = loaded["model"]
    assert after["backbone"]["type"].endswith(target.partition(".")[2]) and after != before
    for module in (loaded.get("custom_imports") or {}).get("imports", []):
        importlib.import_module(module)
    build_and_forward(LIBRARY[name], after)
    again = CliRunner().invoke(
        main, ["build", "--backbone", target, "--model", str(model), "--weights", "none", "--check"]
    )
    assert again.exit_code == 0, again.output
