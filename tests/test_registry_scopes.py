"""validate's rule for scoped backbone types, held against mmengine's real registry.

``validate`` says a scoped ``type`` in a model config is not found exactly when mmengine's registry (in
the config's default scope) does not find it: scopes match exactly (no ``mmcls`` alias, no other
case), and otxgen's own scopes exist only once ``custom_imports`` imports their module. The registry
runs in its own interpreter (it imports torch and the libraries; this one stays static).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from otxgen.config.model_config import read_config
from otxgen.validate.backbones import registry_problem

MISSING = [
    name for name in ("mmengine", "mmdet", "mmseg", "mmpretrain", "torchvision") if not importlib.util.find_spec(name)
]
TV = "otxgen.libraries.torchvision"
SPELLINGS = [
    "mmdet.ResNet",
    "MMDet.ResNet",
    "mmpretrain.ResNet",
    "mmcls.ResNet",
    "omz.mmcls.ResNet",
    "MMPretrain.ResNet",
    "mmseg.ResNetV1c",
    "mmsegmentation.ResNetV1c",
    "torchvision.resnet50",
]
SCOPES = ["mmdet", "mmpretrain"]

REGISTRY_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
import mmdet.registry, mmpretrain.registry, mmseg.registry
from mmengine.registry import DefaultScope, init_default_scope
registries = {"mmdet": mmdet.registry.MODELS, "mmpretrain": mmpretrain.registry.MODELS}
spellings, scopes = json.loads(sys.argv[1]), json.loads(sys.argv[2])

def found(scope, spelling):
    DefaultScope._instance_dict.clear()
    init_default_scope(scope)
    try:
        return registries[scope].get(spelling) is not None
    except Exception:
        return False

result = {"plain": {s: {t: found(s, t) for t in spellings} for s in scopes}}
import otxgen.libraries.torchvision  # what custom_imports does
result["imported"] = {s: {t: found(s, t) for t in spellings} for s in scopes}
print(json.dumps(result))
"""


def validate_finds(scope: str, spelling: str, imported: bool) -> bool:
    imports = f"custom_imports = dict(imports=[{TV!r}], allow_failed_imports=False)\n" if imported else ""
    text = f"{imports}default_scope = {scope!r}\nmodel = dict(backbone=dict(type={spelling!r}))\n"
    return registry_problem(spelling, read_config(text, "model.py")) is None


@pytest.mark.skipif(bool(MISSING), reason="the [mm] extra is not installed")
def test_validate_finds_a_scoped_type_exactly_when_the_registry_does() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REGISTRY_SCRIPT, json.dumps(SPELLINGS), json.dumps(SCOPES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    registry = json.loads(done.stdout.splitlines()[-1])
    for imported, table in (False, registry["plain"]), (True, registry["imported"]):
        for scope in SCOPES:
            static = {spelling: validate_finds(scope, spelling, imported) for spelling in SPELLINGS}
            assert static == table[scope], (scope, imported)
    assert registry["plain"]["mmdet"]["mmdet.ResNet"] and not registry["plain"]["mmdet"]["mmcls.ResNet"]
