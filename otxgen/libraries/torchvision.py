"""torchvision classifiers as mmengine backbones, under the registry scope ``torchvision``.

Importing this module registers every torchvision classification model, so a config can say
``custom_imports = dict(imports=['otxgen.libraries.torchvision'], allow_failed_imports=False)`` and
``backbone = dict(type='torchvision.resnet50', out_indices=(0, 1, 2, 3))`` inside mmdet, mmseg or
mmpretrain. Pretrained weights are off by default (``pretrained=True`` asks torchvision for its
default weights, which must be in torch's cache: nothing is downloaded in CI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torchvision
from torch import nn

from otxgen.libraries.staged import ClassifierAdapter


def _factory_for(name: str, pretrained: bool, kwargs: dict[str, Any]) -> Callable[[], nn.Module]:
    weights = "DEFAULT" if pretrained else None
    return lambda: torchvision.models.get_model(name, weights=weights, **kwargs)


ADAPTER = ClassifierAdapter(
    "torchvision",
    str(torchvision.__version__).split("+")[0],
    torchvision.models.list_models(module=torchvision.models),
    _factory_for,
    torchvision.models.get_model_builder,  # past the legacy-API decorator (unwrapped)
)
MODELS = ADAPTER.registry
