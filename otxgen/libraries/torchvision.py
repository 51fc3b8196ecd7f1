"""torchvision classifiers as mmengine backbones, under the registry scope ``torchvision``.

Importing this module registers every torchvision classification model, so a config can say
``custom_imports = dict(imports=['otxgen.libraries.torchvision'], allow_failed_imports=False)`` and
``backbone = dict(type='torchvision.resnet50', out_indices=(0, 1, 2, 3))`` inside mmdet, mmseg or
mmpretrain. Pretrained weights are off by default (``pretrained=True`` asks torchvision for its
default weights, which must be in torch's cache: nothing is downloaded in CI).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torchvision
from torch import nn

from otxgen.libraries.base import Published
from otxgen.libraries.staged import ClassifierAdapter


def _factory_for(name: str, pretrained: bool, kwargs: dict[str, Any]) -> Callable[[], nn.Module]:
    weights = "DEFAULT" if pretrained else None
    return lambda: torchvision.models.get_model(name, weights=weights, **kwargs)


def _published(names: Sequence[str]) -> Published:
    """torchvision's ImageNet weights per model, from its weight enums: url, ``num_params``, acc@1/acc@5,
    ``_ops`` (GFLOPs) and the transforms' crop size, mean and std (scaled to 0..255, RGB)."""
    found: Published = {}
    for name in names:
        try:
            weights = torchvision.models.get_model_weights(name)
        except (KeyError, ValueError):
            continue
        for weight in weights:
            metrics = weight.meta.get("_metrics", {}).get("ImageNet-1K")
            if metrics and all(math.isfinite(v) for v in metrics.values()):  # features-only weights: NaN
                found.setdefault(name, []).append(({}, _checkpoint(weights.__name__, weight, metrics)))
    return found


def _checkpoint(enum: str, weight: Any, metrics: dict[str, float]) -> dict[str, Any]:
    transforms = weight.transforms()
    return {
        "name": f"{enum}.{weight.name}",
        "publisher": "torchvision",
        "url": weight.url,
        "data": ["ImageNet-1k"],
        "top1": metrics.get("acc@1"),
        "top5": metrics.get("acc@5"),
        "input_size": int(transforms.crop_size[0]),
        "mean": [round(m * 255, 4) for m in transforms.mean],
        "std": [round(s * 255, 4) for s in transforms.std],
        "rgb": True,
        "params": weight.meta.get("num_params"),
        "gflops": weight.meta.get("_ops"),
    }


ADAPTER = ClassifierAdapter(
    "torchvision",
    str(torchvision.__version__).split("+")[0],
    torchvision.models.list_models(module=torchvision.models),
    _factory_for,
    torchvision.models.get_model_builder,  # past the legacy-API decorator (unwrapped)
    _published,
)
MODELS = ADAPTER.registry
