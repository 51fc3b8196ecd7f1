"""pytorchcv classifiers as mmengine backbones, under the registry scope ``pytorchcv``.

Importing this module registers every model of pytorchcv's model provider, so a config can say
``custom_imports = dict(imports=['otxgen.libraries.pytorchcv'], allow_failed_imports=False)`` and
``backbone = dict(type='pytorchcv.mobilenetv2_w1', out_indices=(0, 1, 2, 3))``. Models that are not
ImageNet-style classifiers (segmentation, detection, pose, 32x32 CIFAR/SVHN nets) fail the stride probe
and are listed as excluded with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from pytorchcv.model_provider import _models as provider
from torch import nn

from otxgen.libraries.staged import ClassifierAdapter


def _factory_for(name: str, pretrained: bool, kwargs: dict[str, Any]) -> Callable[[], nn.Module]:
    return lambda: provider[name](pretrained=pretrained, **kwargs)


ADAPTER = ClassifierAdapter("pytorchcv", version("pytorchcv"), list(provider), _factory_for, provider.__getitem__)
MODELS = ADAPTER.registry
