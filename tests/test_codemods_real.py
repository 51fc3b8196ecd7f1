"""``build``'s rewrite on real configs: those shipped inside the mmdet package.

For 50 configs that define ``model = dict(... backbone=dict(...))`` and whose loaded model has a neck
with ``in_channels``, the rewrite to RegNet-3.2GF (planned from the merged view, as ``otxgen build``
does) parses, keeps every comment outside the replaced backbone block, is idempotent, and
``mmengine.Config.fromfile`` of the result equals the original's except for ``model.backbone``, the
neck's ``in_channels`` and the old weights. The configs tree is copied once, so the rewritten file sits
beside the ``_base_`` files it inherits from. (The whole-model build and forward of swapped configs of
all three libraries: ``tests/test_corpus.py``.)
"""

from __future__ import annotations

import importlib.resources
import io
import shutil
import tokenize
from collections import Counter
from pathlib import Path
from typing import Any

import libcst as cst
import pytest
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from codemods import _config
from codemods.errors import CodemodError
from codemods.replace_backbone import backbone_path
from otxgen.app.carry import CARRIED, STAGE_COUNTS
from otxgen.app.rewrite import rewrite_config
from otxgen.schema.store import StoreCatalog

mmengine_config = pytest.importorskip("mmengine.config", reason="the [mm] extra is not installed")
pytest.importorskip("mmdet", reason="the [mm] extra is not installed")

BACKBONE: dict[str, Any] = {"type": "RegNet", "arch": "regnetx_3.2gf", "out_indices": (0, 1, 2, 3)}
REQUESTED: dict[str, Any] = {**BACKBONE, "type": "mmdet.RegNet"}
CHANNELS = [96, 192, 432, 1008]
COUNT = 50


def configs_root() -> Path:
    return Path(str(importlib.resources.files("mmdet") / ".mim" / "configs"))


def defines_backbone(source: str) -> bool:
    """``model = dict(... backbone=dict(...))`` in the file itself, and nothing that needs imports."""
    if "custom_imports" in source:
        return False
    module = cst.parse_module(source)
    try:
        value = _config.resolve(module, backbone_path(module))
    except CodemodError:
        return False
    return value is not None and _config.is_dict_call(value)


def neck_of(model: dict[str, Any]) -> dict[str, Any] | None:
    neck = model.get("neck")
    neck = neck[0] if isinstance(neck, list) and neck else neck
    return neck if isinstance(neck, dict) and isinstance(neck.get("in_channels"), (list, tuple)) else None


def load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = mmengine_config.Config.fromfile(str(path)).to_dict()
    return config


def normalized(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [normalized(item) for item in value]
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    return value


def comments(source: str) -> list[tuple[tuple[int, int], str]]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start, token.string) for token in tokens if token.type == tokenize.COMMENT]


def comments_outside_backbone(source: str) -> Counter[str]:
    module = cst.parse_module(source)
    value = _config.resolve(module, backbone_path(module))
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    arg = next(node for node in positions if isinstance(node, cst.Arg) and node.value is value)
    where = positions[arg]
    assert isinstance(where, CodeRange)
    start, end = (where.start.line, where.start.column), (where.end.line, where.end.column)
    return Counter(text for at, text in comments(source) if not start <= at <= end)


@pytest.fixture(scope="session")
def real_configs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict[str, Any]]]:
    """(copied config, its loaded original) for the first ``COUNT`` suitable configs, spread over folders."""
    root = tmp_path_factory.mktemp("mmdet") / "configs"
    shutil.copytree(configs_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    candidates = [path for path in sorted(root.rglob("*.py")) if defines_backbone(path.read_text())]
    spread = candidates[::3] + candidates[1::3] + candidates[2::3]
    chosen: list[tuple[Path, dict[str, Any]]] = []
    for path in spread:
        original = load(path)
        neck = neck_of(original["model"])
        # a neck that builds a second backbone (DetectoRS's RFP) is a refusal, not a rewrite to check here
        if neck is not None and not any("backbone" in key and isinstance(v, dict) for key, v in neck.items()):
            chosen.append((path, original))
        if len(chosen) == COUNT:
            break
    return chosen


def rewrite(path: Path, source: str, backbone: dict[str, Any] = REQUESTED) -> str:
    """What ``otxgen build`` writes for ``path`` when it holds ``source``."""
    catalog = StoreCatalog()
    path.write_text(source)
    return rewrite_config(path, backbone, catalog.schema(backbone["type"]), catalog, None, lambda _: None).after


def without_intended_keys(config: dict[str, Any]) -> dict[str, Any]:
    model = dict(config["model"])
    model.pop("backbone")
    model.pop("pretrained", None)
    neck = model["neck"]
    first = dict(neck[0] if isinstance(neck, list) else neck)
    first.pop("in_channels")
    model["neck"] = [first, *neck[1:]] if isinstance(neck, list) else first
    return {**{k: v for k, v in config.items() if k != "load_from"}, "model": model}


def test_enough_real_configs(real_configs: list[tuple[Path, dict[str, Any]]]) -> None:
    assert len(real_configs) == COUNT
    assert len({path.parent for path, _ in real_configs}) >= 20


def test_real_configs_rewrite_losslessly(real_configs: list[tuple[Path, dict[str, Any]]]) -> None:
    failures = []
    for path, original in real_configs:
        source = path.read_text()
        out = rewrite(path, source)
        cst.parse_module(out)
        assert rewrite(path, out) == out, f"{path.name}: not idempotent"
        path.write_text(source)
        lost = comments_outside_backbone(source) - Counter(text for _, text in comments(out))
        assert not lost, f"{path.name}: lost comments {sorted(lost)}"
        rewritten = path.with_name(f"otxgen_rewritten_{path.name}")
        rewritten.write_text(out)
        result = load(rewritten)
        backbone = result["model"]["backbone"]
        if not all(normalized(backbone.get(key)) == normalized(value) for key, value in BACKBONE.items()):
            failures.append(f"{path.name}: backbone {backbone}")
        neck = neck_of(result["model"])
        if neck is None or normalized(neck["in_channels"]) != CHANNELS:
            failures.append(f"{path.name}: neck {result['model'].get('neck')}")
        if normalized(without_intended_keys(result)) != normalized(without_intended_keys(original)):
            failures.append(f"{path.name}: other keys changed")
    assert not failures, "\n".join(failures)


def test_a_rewrite_to_another_type_gives_exactly_the_new_backbone(
    real_configs: list[tuple[Path, dict[str, Any]]],
) -> None:
    """No key of a base backbone of another type merges back in, but the arguments of the same meaning
    that the new schema accepts (``carry.CARRIED``), a stage count only where the config chose it (not
    at the old type's default); a same-type swap: the next test."""
    catalog = StoreCatalog()
    properties = catalog.schema("mmdet.RegNet")["properties"]
    for path, original in real_configs:
        old = original["model"]["backbone"]
        defaults = catalog.schema(f"mmdet.{old['type']}")["properties"]
        carried = {
            key: old[key]
            for key in CARRIED
            if key in old
            and key in properties
            and not (
                key in STAGE_COUNTS
                and "default" in defaults.get(key, {})
                and normalized(defaults[key]["default"]) == normalized(old[key])
            )
        }
        if original["model"]["backbone"]["type"] == "RegNet":
            continue
        source = path.read_text()
        rewritten = path.with_name(f"otxgen_whole_{path.name}")
        rewritten.write_text(rewrite(path, source))
        path.write_text(source)
        assert normalized(load(rewritten)["model"]["backbone"]) == normalized({**BACKBONE, **carried}), path.name


def test_a_same_type_swap_over_a_base_keeps_the_base_but_not_its_checkpoint(tmp_path: Path) -> None:
    """faster-rcnn regnetx-4GF inherits a RegNet with ``init_cfg`` (regnetx_3.2gf's checkpoint) from its
    base; swapping to regnetx_400mf keeps the base's other arguments and drops the checkpoint."""
    root = tmp_path / "configs"
    for folder in ("regnet", "faster_rcnn", "common", "_base_"):
        shutil.copytree(configs_root() / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = root / "regnet" / "faster-rcnn_regnetx-4GF_fpn_ms-3x_coco.py"
    original = load(path)["model"]["backbone"]
    small = {"type": "mmdet.RegNet", "arch": "regnetx_400mf", "out_indices": (0, 1, 2, 3)}
    out = rewrite(path, path.read_text(), small)
    assert "_delete_" not in out and "init_cfg=None" in out
    assert rewrite(path, out, small) == out
    path.write_text(out)
    backbone = load(path)["model"]["backbone"]
    assert backbone["arch"] == "regnetx_400mf" and backbone["init_cfg"] is None
    kept = {k: v for k, v in original.items() if k not in ("arch", "init_cfg")}
    assert normalized({k: backbone[k] for k in kept}) == normalized(kept)


def test_over_a_base_list_of_necks_the_result_loads_with_the_new_channels(tmp_path: Path) -> None:
    """libra-faster-rcnn_r101 sets only its backbone; its base's neck is a list (FPN, BFP), which
    mmengine will not merge a dict into: the override is the whole list, and it loads."""
    root = tmp_path / "configs"
    for folder in ("libra_rcnn", "faster_rcnn", "_base_"):
        shutil.copytree(configs_root() / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = root / "libra_rcnn" / "libra-faster-rcnn_r101_fpn_1x_coco.py"
    original = load(path)
    assert isinstance(original["model"]["neck"], list) and "neck" not in path.read_text()
    source = path.read_text()
    out = rewrite(path, source)
    assert rewrite(path, out) == out
    path.write_text(source)
    rewritten = path.with_name(f"otxgen_rewritten_{path.name}")
    rewritten.write_text(out)
    result = load(rewritten)
    backbone = result["model"]["backbone"]
    assert normalized({key: backbone[key] for key in BACKBONE}) == normalized(BACKBONE)
    assert normalized(result["model"]["neck"][0]["in_channels"]) == CHANNELS
    assert normalized(without_intended_keys(result)) == normalized(without_intended_keys(original))
