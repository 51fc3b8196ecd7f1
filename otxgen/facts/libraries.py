"""The library table, the one place: names, aliases, tasks, the modules that register each library's
backbones and the distributions that install them. Scopes, distributions and tasks all derive from it."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from otxgen.errors import UsageError
from otxgen.facts.arguments import NEUTRAL_ARGS

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
# The arguments that let a library's model take an input size it was not built for, best first: a
# model built for one size (its schema's ``fixed_input_size``: a timm ViT's position embedding) any size,
# as a dense task's images come; a model bound to a coarser multiple (a patch of 14, a window larger
# than its last map) the sides a config feeds it. timm's ViTs pad an image to a multiple of their patch
# with ``dynamic_img_pad`` (DeepSeek's takes only that); mmpretrain's Swins pad a map smaller than a window.
SIZE_FREEING_ARGS: dict[str, tuple[dict[str, Any], ...]] = {
    "timm": (
        {"dynamic_img_size": True, "dynamic_img_pad": True},
        {"dynamic_img_size": True},
        {"dynamic_img_pad": True},
    ),
    "mmpretrain": ({"pad_small_map": True},),
}
# The argument that makes a library's model for one other input size (a classifier's crop); a
# checkpoint's position embedding is resized to it when it loads (timm's filter).
SIZE_SETTING_ARGS = {"timm": "img_size"}
# The argument of otxgen's wrapper of a library that runs its network on squares of one side and joins
# their maps: what a model that runs only at its own size (a CaiT's or a Mixer's tokens, a CoAtNet's
# attention bias, a HaloNet's blocks) takes in a dense task's images of any size, where no argument of
# its library frees it and padding does not.
TILING_ARGS = {"timm": "tile_size"}
# Every argument that says what input size a backbone takes (the ones above, and the size a model is
# built for): the user's, or a base's, are kept and held to the sides the config feeds; one of them
# given anew makes the others of the old backbone stale.
SIZE_ARGS = frozenset(
    {"img_size", "input_size", *SIZE_SETTING_ARGS.values(), *TILING_ARGS.values()}.union(
        *(arguments for each in SIZE_FREEING_ARGS.values() for arguments in each)
    )
)
# Arguments that leave a backbone's parameters as they are, so that a checkpoint of the same arch loads
# whole whatever they are set to: the neutral ones, which outputs are given, and the input size (the
# libraries resample a position embedding or a window table as a checkpoint loads).
UNWEIGHTED_ARGS = NEUTRAL_ARGS | SIZE_ARGS | {"out_indices"}
# The argument that sets a library's ViT patch size, its checkpoint's patch embedding resampled when it
# loads (timm's filter, which otxgen's wrapper runs): a patch-14 DINOv2 made patch-16 for a pyramid.
PATCH_SIZE_ARGS = {"timm": "patch_size"}

# Parameters no output the model reads depends on get no gradient, which distributed training refuses at
# its second step unless the config sets this (mmengine's Runner hands it to its DDP wrapper).
UNUSED_PARAMETERS_KEY = "find_unused_parameters"
# The distribution that installs a library, where its name differs.
DISTRIBUTIONS = {"mmseg": "mmsegmentation"}
# The task of each mm library's own configs (what its models are for).
LIBRARY_TASKS = {"mmdet": "detection", "mmseg": "segmentation", "mmpretrain": "classification"}


def canonical_library(prefix: str) -> str | None:
    """The library a scope or alias names (``'mmcls'`` -> ``'mmpretrain'``), None when none."""
    lowered = prefix.lower()
    return lowered if lowered in LIBRARIES else ALIASES.get(lowered)


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
