"""Library names, aliases and the adapter for each. Adapters import their library lazily."""

from __future__ import annotations

from difflib import get_close_matches
from typing import TYPE_CHECKING

from otxgen.errors import UsageError

if TYPE_CHECKING:
    from otxgen.libraries.base import Adapter

LIBRARIES = ("mmdet", "mmseg", "mmpretrain", "torchvision", "pytorchcv", "timm")
ALIASES = {"mmcls": "mmpretrain", "omz.mmcls": "mmpretrain", "mmsegmentation": "mmseg"}
TASKS = ("classification", "detection", "instance-segmentation", "segmentation")
DENSE_TASKS = ("detection", "instance-segmentation", "segmentation")
# The module a config's ``custom_imports`` names so that its registry knows a library's backbones
# (each adapter's ``custom_import()``; a test holds them equal), and the library it registers.
REGISTERING_MODULES = {
    "mmdet.models": "mmdet",
    "mmseg.models": "mmseg",
    "mmpretrain.models": "mmpretrain",
    "otxgen.libraries.torchvision": "torchvision",
    "otxgen.libraries.pytorchcv": "pytorchcv",
    "otxgen.libraries.timm": "timm",
}


def resolve_library(name: str) -> str:
    """Canonical library name for ``name`` (aliases allowed), or a usage error naming the valid ones."""
    lowered = name.strip().lower()
    if lowered in LIBRARIES:
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    valid = ", ".join(LIBRARIES + tuple(ALIASES))
    hint = get_close_matches(lowered, LIBRARIES + tuple(ALIASES), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise UsageError(f"unknown library {name!r}{suggestion}; valid: {valid}")


def split_type(backbone_type: str) -> tuple[str, str]:
    """``'mmdet.RegNet'`` -> ``('mmdet', 'RegNet')``; ``'omz.mmcls.X'`` -> ``('mmpretrain', 'X')``."""
    prefix, dot, name = backbone_type.rpartition(".")
    if not dot or not name:
        raise UsageError(f"backbone type {backbone_type!r} must look like LIB.Name, e.g. mmdet.ResNet")
    return resolve_library(prefix), name


def get_adapter(library: str) -> Adapter:
    """The adapter object for a canonical library name."""
    import importlib

    library = resolve_library(library)
    if library in ("mmdet", "mmseg", "mmpretrain"):
        from otxgen.libraries.mm import MMAdapter

        return MMAdapter(library)
    adapter: Adapter = importlib.import_module(f"otxgen.libraries.{library}").ADAPTER
    return adapter
