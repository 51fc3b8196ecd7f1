"""Which schema a backbone ``type`` means: scoped types, scopes inferred from a model config, and the
catalog of committed schemas (passed in, so that tests can hand-write one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from otxgen.libraries import ALIASES, LIBRARIES, REGISTERING_MODULES
from otxgen.validate.check import did_you_mean

if TYPE_CHECKING:  # libcst costs ~0.1 s to import: a backbone.yaml does not need it
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


class Catalog(Protocol):
    """The committed schemas: every known type, the excluded ones, and one schema by type."""

    def types(self) -> Sequence[str]: ...

    def excluded(self) -> dict[str, str]: ...

    def schema(self, backbone_type: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Resolved:
    """``type`` is the full ``LIB.Name`` when known; else ``problem`` says why, as an error or a note."""

    type: str | None
    problem: str = ""
    is_note: bool = False


def canonical_library(prefix: str) -> str | None:
    lowered = prefix.lower()
    return lowered if lowered in LIBRARIES else ALIASES.get(lowered)


def resolve_type(raw: str, library: str | None, catalog: Catalog, custom: Sequence[str] = ()) -> Resolved:
    """``raw`` as written (``'ResNet'``, ``'mmdet.ResNet'``) -> the catalog's type, or the problem."""
    known = catalog.types()
    prefix, dot, name = raw.rpartition(".")
    if dot:
        library = canonical_library(prefix)
        if library is None:
            return Resolved(None, f"{CANNOT_PREFIX} scope {prefix!r} is not a library otxgen knows", True)
    if library and not any(t.startswith(f"{library}.") for t in known):
        return Resolved(None, f"{CANNOT_PREFIX} the schemas hold no {library} backbones", True)
    candidates = [f"{library}.{name}"] if library else [t for t in known if t.rpartition(".")[2] == name]
    found = [t for t in candidates if t in known]
    if len(found) == 1:
        return Resolved(found[0])
    excluded = catalog.excluded()
    for candidate in candidates or [t for t in excluded if t.rpartition(".")[2] == name]:
        if candidate in excluded:
            return Resolved(None, f"{CANNOT_PREFIX} {candidate} has no schema ({excluded[candidate]})", True)
    if found:
        return Resolved(None, f"type {raw!r} is ambiguous: scope it as one of {', '.join(sorted(found))}")
    if custom:
        return Resolved(
            None, f"{CANNOT_PREFIX} {raw!r} is not in the schemas (custom_imports: {', '.join(custom)})", True
        )
    elsewhere = [t for t in known if t.rpartition(".")[2] == name]
    hint = (
        f"; did you mean {elsewhere[0]!r}?" if elsewhere else did_you_mean(candidates[0] if candidates else raw, known)
    )
    if not library and not hint:
        return Resolved(None, f"{CANNOT_PREFIX} {raw!r} is in no schema and the config does not say its library", True)
    where = f" in {library}" if library and not dot else ""
    return Resolved(None, f"unknown backbone type {raw!r}{where}{hint}")


CANNOT_PREFIX = "cannot check statically:"


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
