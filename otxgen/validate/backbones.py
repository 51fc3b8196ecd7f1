"""The library an unscoped backbone ``type`` of a model config resolves in, and whether mmengine's
registry would find a scoped one (resolving a type in the catalog: ``otxgen.schema.resolve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otxgen.facts.libraries import REGISTERING_MODULES, canonical_library

if TYPE_CHECKING:
    from otxgen.config.model_config import ConfigFacts

# Hints for an unscoped type, from the strongest to the weakest (see ``infer_library``).
_MODEL_TYPES = {
    "EncoderDecoder": "mmseg",
    "CascadeEncoderDecoder": "mmseg",
    "DepthEstimator": "mmseg",
    "ImageClassifier": "mmpretrain",
    "TimmClassifier": "mmpretrain",
    "HuggingFaceClassifier": "mmpretrain",
}
_PREPROCESSORS = {
    "DetDataPreprocessor": "mmdet",
    "SegDataPreProcessor": "mmseg",
    "ClsDataPreprocessor": "mmpretrain",
    "SelfSupDataPreprocessor": "mmpretrain",
}
_HEAD_KEYS = {
    "rpn_head": "mmdet",
    "roi_head": "mmdet",
    "bbox_head": "mmdet",
    "mask_head": "mmdet",
    "decode_head": "mmseg",
    "auxiliary_head": "mmseg",
}
_BASE_WORDS = {
    "mmdet": ("coco", "voc", "lvis", "rcnn", "retinanet", "yolo", "detection", "instance"),
    "mmseg": ("ade20k", "cityscapes", "pascal_context", "upernet", "deeplab", "pspnet", "fcn", "segment"),
    "mmpretrain": ("imagenet", "cifar", "classification"),
}


def infer_library(facts: ConfigFacts, model: dict[str, Any], *, from_imports: bool = True) -> str | None:
    """The library an unscoped backbone type resolves in: ``default_scope``, the model's type, its data
    preprocessor, its head keys, ``_base_`` file names, then ``custom_imports`` (unless ``from_imports``
    is false: a build that decides ``custom_imports`` must not read its own decision back)."""
    if facts.default_scope:
        return canonical_library(facts.default_scope)
    hints = [_MODEL_TYPES.get(str(model.get("type", "")).rpartition(".")[2])]
    preprocessor = model.get("data_preprocessor")
    if isinstance(preprocessor, dict):
        hints.append(_PREPROCESSORS.get(str(preprocessor.get("type", "")).rpartition(".")[2]))
    hints += [_HEAD_KEYS.get(key) for key in model]
    hints += [lib for base in facts.bases for lib, words in _BASE_WORDS.items() if any(w in base for w in words)]
    hints += [canonical_library(name.partition(".")[0]) for name in facts.custom_imports if from_imports]
    return next((hint for hint in hints if hint), None)


def registry_problem(raw: str, facts: ConfigFacts) -> str | None:
    """Why mmengine's registry would not find the scoped type ``raw`` in this config, or ``None``.

    The registry matches a scope exactly (no aliases, no other case: ``mmcls.ResNet`` and
    ``MMDet.ResNet`` are not found; ``tests/test_registry_scopes.py`` holds this against the real
    registry). An mm library's scope is found through its own ``<scope>.registry`` module; otxgen's
    scopes (``torchvision``, ``pytorchcv``, ``timm``) exist only once ``custom_imports`` imports the
    module that registers them."""
    prefix, dot, name = raw.rpartition(".")
    library = canonical_library(prefix) if dot else None
    if library is None:
        return None  # unscoped, or a scope otxgen does not know (a note elsewhere)
    if prefix != library:
        return f"scope {prefix!r} is not a registry scope (mmengine matches scopes exactly); write '{library}.{name}'"
    module = next((m for m, lib in REGISTERING_MODULES.items() if lib == library), None)
    if module is None or module.startswith(f"{library}.") or module in facts.custom_imports:
        return None
    return (
        f"{raw!r} is registered by {module}, which custom_imports does not import: mmengine would not find it "
        f"(add custom_imports = dict(imports=[{module!r}], allow_failed_imports=False))"
    )


def custom_modules(facts: ConfigFacts) -> list[str]:
    """``custom_imports`` that are not one of the libraries otxgen knows (user code)."""
    return [name for name in facts.custom_imports if canonical_library(name.partition(".")[0]) is None]
