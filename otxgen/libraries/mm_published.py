"""The checkpoints the OpenMMLab libraries publish for their backbones, read from what they ship:

- mmpretrain's metafiles (``.mim/configs/*/metafile.yml``): each model's weights, training data, top-1 /
  top-5 on ImageNet-1k, parameters and FLOPs, and its config, whose backbone says the arch and whose
  data preprocessor says the normalisation. A classifier checkpoint: ``prefix='backbone.'``.
- every library's own configs: the ImageNet checkpoint a config's backbone starts from
  (``init_cfg=dict(type='Pretrained', checkpoint=...)`` or ``pretrained=``), ``open-mmlab://`` /
  ``torchvision://`` / ``mmcls://`` names resolved with mmengine's own tables, and how many configs use it.

Configs are read statically (the caller's reader), never executed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from otxgen.errors import UsageError
from otxgen.facts.checkpoints import READING_ARGS, checkpoints
from otxgen.facts.libraries import resolve_library
from otxgen.libraries.base import Configured, ModelReader, Published

_PREPROCESSOR_RGB = ("bgr_to_rgb", "to_rgb")
_SCHEMES = {"open-mmlab://": "openmmlab", "mmcls://": "mmcls"}


def configs_root(package: str) -> Path:
    return Path(str(importlib.import_module(package).__file__)).parent / ".mim" / "configs"


def published(library: str, package: str, read_config: ModelReader) -> Published:
    root = configs_root(package)
    found = _from_configs(library, root, read_config)
    if library == "mmpretrain":
        for name, pairs in _from_metafiles(root, read_config).items():
            found[name] = pairs + found.get(name, [])
    return found


def _from_metafiles(root: Path, read_config: ModelReader) -> Published:
    import yaml

    found: Published = {}
    for metafile in sorted(root.glob("*/metafile.yml")):
        document = yaml.safe_load(metafile.read_text(encoding="utf-8")) or {}
        collections = {c.get("Name"): c.get("Metadata") or {} for c in document.get("Collections") or []}
        for model in document.get("Models") or []:
            config = read_config(root.parent / str(model.get("Config", ""))) if model.get("Config") else None
            backbone = _backbone(config)
            if backbone is None or not model.get("Weights"):
                continue
            metadata = collections.get(model.get("In Collection"), {}) | (model.get("Metadata") or {})
            data = _listed(metadata.get("Training Data"))
            if not any("ImageNet" in d for d in data):
                continue
            name, args = backbone
            record = _metafile_record(model, metadata, data, config)
            found.setdefault(name, []).append((args, record))
    return found


def _metafile_record(
    model: dict[str, Any], metadata: dict[str, Any], data: list[str], config: dict[str, Any] | None
) -> dict[str, Any]:
    metrics = next(
        (
            r.get("Metrics") or {}
            for r in model.get("Results") or []
            if r.get("Dataset") == "ImageNet-1k" and r.get("Task") == "Image Classification"
        ),
        {},
    )
    flops = metadata.get("FLOPs")
    return {
        "name": model.get("Name"),
        "publisher": "mmpretrain",
        "url": model["Weights"],
        "data": data,
        "top1": metrics.get("Top 1 Accuracy"),
        "top5": metrics.get("Top 5 Accuracy"),
        "input_size": _input_size(config),
        "params": metadata.get("Parameters"),
        "gflops": round(flops / 1e9, 3) if isinstance(flops, (int, float)) else None,
        "prefix": "backbone.",
        **_normalisation(config),
    }


def _from_configs(library: str, root: Path, read_config: ModelReader) -> Published:
    """The checkpoint each shipped config's backbone starts from, once per (backbone, arch, address)."""
    hub = _hub_names()
    found: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.py")):
        if "_base_" in path.parts:
            continue
        config = read_config(path)
        backbone = _backbone(config)
        if config is None or backbone is None:
            continue
        name, args = backbone
        for address, prefix in _starting_points(config):
            url = _resolved(address, hub)
            if url is None:
                continue
            key = (name, repr(sorted(args.items())) + url)
            if key in found:
                found[key][1]["configs"] += 1
                continue
            record = {"name": address, "publisher": library, "url": url, "configs": 1, "prefix": prefix}
            reading = {name: args[name] for name, default in READING_ARGS.items() if args.get(name, default) != default}
            record |= {"arguments": reading} if reading else {}
            found[key] = (args, record | _normalisation(config))
    grouped: Published = {}
    for (name, _), pair in sorted(found.items()):
        grouped.setdefault(name, []).append(pair)
    return grouped


def configured(library: str, package: str, read_config: ModelReader) -> Configured:
    """How the library's shipped configs configure backbones: each dict with a string ``type`` reached
    from ``model`` through keys that name a backbone (``backbone``, a BiSeNet's ``backbone_cfg``), by
    full type (a scoped ``mmpretrain.TIMMBackbone`` in an mmdet config counts for mmpretrain), with its
    other arguments and the config's path in the package (``mmseg/configs/stdc/...``), in path order."""
    root = configs_root(package)
    found: Configured = {}
    for path in sorted(root.rglob("*.py")):
        if "_base_" in path.parts:
            continue
        model = (read_config(path) or {}).get("model")
        where = f"{package}/{path.relative_to(root.parent).as_posix()}"
        for backbone_type, args in _backbone_dicts(library, model):
            found.setdefault(backbone_type, []).append((args, where))
    return found


def _backbone_dicts(library: str, holder: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(holder, dict):
        return
    for key, value in holder.items():
        if not isinstance(value, dict) or "backbone" not in str(key):
            continue
        if isinstance(value.get("type"), str):
            scope, _, name = value["type"].rpartition(".")
            try:
                owner = resolve_library(scope) if scope else library
            except UsageError:  # another scope (mmcv, mmengine): not a listed backbone
                owner = None
            if owner is not None:
                yield f"{owner}.{name}", {k: v for k, v in value.items() if k != "type"}
        yield from _backbone_dicts(library, value)


def _backbone(config: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """The backbone's unscoped type and its other arguments, for the config's own library's types."""
    model = (config or {}).get("model")
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(backbone, dict) or not isinstance(backbone.get("type"), str) or "." in backbone["type"]:
        return None
    return backbone["type"], {k: v for k, v in backbone.items() if k != "type"}


def _starting_points(config: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    model = config["model"]
    backbone = model["backbone"]
    for _, address, prefix in checkpoints(backbone.get("init_cfg")):
        yield address, prefix
    for holder in (backbone, model):
        if isinstance(holder.get("pretrained"), str):
            yield holder["pretrained"], None


def _hub_names() -> dict[str, dict[str, str]]:
    """mmengine's tables of checkpoint names: ``open-mmlab://``, ``mmcls://`` and ``torchvision://``."""
    import json

    import mmengine
    from mmengine.runner.checkpoint import get_torchvision_models

    hub = Path(str(mmengine.__file__)).parent / "hub"
    tables = {table: json.loads((hub / f"{table}.json").read_text()) for table in _SCHEMES.values()}
    deprecated = json.loads((hub / "deprecated.json").read_text())
    tables["openmmlab"] |= {
        old.removeprefix("open-mmlab://"): tables["openmmlab"].get(new.removeprefix("open-mmlab://"), new)
        for old, new in deprecated.items()
    }
    tables["torchvision"] = get_torchvision_models()
    return tables


def _resolved(address: str, hub: dict[str, dict[str, str]]) -> str | None:
    """An address as mmengine resolves it, or None when it is not a published one (a local path)."""
    for scheme, table in [*_SCHEMES.items(), ("torchvision://", "torchvision")]:
        if address.startswith(scheme):
            return hub[table].get(address.removeprefix(scheme))
    return address if address.startswith(("http://", "https://")) else None


def _normalisation(config: dict[str, Any] | None) -> dict[str, Any]:
    """mean / std / channel order from the model's data preprocessor (or the config's top-level one)."""
    config = config or {}
    model = config.get("model")
    model = model if isinstance(model, dict) else {}
    for holder in (model.get("data_preprocessor"), config.get("data_preprocessor")):
        if isinstance(holder, dict) and isinstance(holder.get("mean"), list) and isinstance(holder.get("std"), list):
            rgb = next((bool(holder[k]) for k in _PREPROCESSOR_RGB if k in holder), False)
            return {"mean": holder["mean"], "std": holder["std"], "rgb": rgb}
    return {}


def _input_size(config: dict[str, Any] | None) -> int | None:
    """The test pipeline's final crop or resize, else the backbone's ``img_size``."""
    config = config or {}
    sizes = []
    for step in _test_pipeline(config):
        for key in ("crop_size", "scale"):
            value = step.get(key) if isinstance(step, dict) else None
            if isinstance(value, int):
                sizes.append(value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], int):
                sizes.append(value[0])
    if sizes:
        return sizes[-1]
    backbone = (config.get("model") or {}).get("backbone") or {}
    size = backbone.get("img_size") if isinstance(backbone, dict) else None
    return size if isinstance(size, int) else None


def _test_pipeline(config: dict[str, Any]) -> list[Any]:
    loader = config.get("test_dataloader") or config.get("val_dataloader")
    dataset = loader.get("dataset") if isinstance(loader, dict) else None
    pipeline = dataset.get("pipeline") if isinstance(dataset, dict) else config.get("test_pipeline")
    return pipeline if isinstance(pipeline, list) else []


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
