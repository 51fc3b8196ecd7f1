"""pytorchcv classifiers as mmengine backbones, under the registry scope ``pytorchcv``.

Importing this module registers every model of pytorchcv's model provider, so a config can say
``custom_imports = dict(imports=['otxgen.libraries.pytorchcv'], allow_failed_imports=False)`` and
``backbone = dict(type='pytorchcv.mobilenetv2_w1', out_indices=(0, 1, 2, 3))``. Models that are not
ImageNet-style classifiers (segmentation, detection, pose, 32x32 CIFAR/SVHN nets) fail the stride probe
and are listed as excluded with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from pytorchcv.model_provider import _models as provider
from torch import nn

from otxgen.libraries.base import Published
from otxgen.libraries.staged import ClassifierAdapter


def _factory_for(name: str, pretrained: bool, kwargs: dict[str, Any]) -> Callable[[], nn.Module]:
    return lambda: provider[name](pretrained=pretrained, **kwargs)


def _published(names: Sequence[str]) -> Published:
    """pytorchcv's ImageNet-1k checkpoints, from its model store's table: weight count, top-5 error (the
    figure it publishes; no top-1) and input size. Its file names and address follow the store's own
    rule (``get_model_file``); it publishes no normalisation."""
    from pytorchcv.models.common import model_store

    rows = model_store.load_csv(model_store.get_model_metainfos_file_path())
    header, body = rows[0], rows[1:]
    found: Published = {}
    known = set(names)
    for row in body:
        record = dict(zip(header, row, strict=True))
        name = record["model_name"]
        if name not in known or record["test_dataset"] != "in1k" or record["error_value"] == "NA":
            continue
        error = record["error_value"]
        file_name = f"{name}-{error}-{record['checksum'][:8]}.pth"
        url = f"{model_store.imgclsmob_repo_url}/releases/download/{record['repo_release_tag']}/{file_name}.zip"
        checkpoint = {
            "name": file_name,
            "publisher": "pytorchcv",
            "url": url,
            "data": ["ImageNet-1k"],
            "top5": round(100 - int(error) / 100, 2),
            "input_size": int(record["img_size"]) if record["img_size"].isdigit() else None,
            "params": int(record["net_weights"]),
        }
        found[name] = [({}, checkpoint)]
    return found


ADAPTER = ClassifierAdapter(
    "pytorchcv", version("pytorchcv"), list(provider), _factory_for, provider.__getitem__, _published
)
MODELS = ADAPTER.registry
