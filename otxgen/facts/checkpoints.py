"""What is a checkpoint in a config, the one reading: a backbone's ``pretrained`` or an ``init_cfg``
(a dict, or a list of them as mmengine allows) that loads one, and the model-level ``pretrained`` that
a segmentor or detector hands to its backbone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def _inits(init_cfg: object) -> list[Mapping[str, Any]]:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [item for item in items if isinstance(item, Mapping)]


def loads_checkpoint(init: Mapping[str, Any]) -> bool:
    """One ``init_cfg`` entry that loads weights (``type='Pretrained'``, or any entry with a checkpoint)."""
    return init.get("type") == "Pretrained" or "checkpoint" in init


def checkpoints(init_cfg: object) -> Iterator[tuple[int | None, str, str | None]]:
    """Each checkpoint an ``init_cfg`` loads, as ``(index in the list or None, address, prefix)``."""
    listed = isinstance(init_cfg, (list, tuple))
    for index, init in enumerate(_inits(init_cfg)):
        address = init.get("checkpoint")
        if loads_checkpoint(init) and isinstance(address, str):
            prefix = init.get("prefix")
            yield (index if listed else None), address, prefix if isinstance(prefix, str) else None


def is_weights(key: str, value: object) -> bool:
    """Whether a backbone argument holds weights: ``pretrained`` set, or an ``init_cfg`` that loads some."""
    if key == "pretrained":
        return value is not None and value is not False
    return key == "init_cfg" and any(loads_checkpoint(init) for init in _inits(value))


def is_switch(properties: Mapping[str, Any]) -> bool:
    """Whether a backbone's ``pretrained`` (by its schema's ``properties``) is a switch: a boolean that
    asks the library for its own weights when the backbone is built (torchvision's, timm's, TIMMBackbone's,
    on by default in mmseg's), not the address of a checkpoint. Its "no weights" is False."""
    pretrained = properties.get("pretrained")
    return isinstance(pretrained, Mapping) and pretrained.get("type") == "boolean"


def switched_on(properties: Mapping[str, Any]) -> bool:
    """Whether the backbone's weights switch is on unless a config turns it off (mmseg's TIMMBackbone):
    one written without ``pretrained`` fetches its library's weights when it is built."""
    return is_switch(properties) and properties["pretrained"].get("default") is True


def no_weights(key: str, properties: Mapping[str, Any]) -> object:
    """The value of the weights argument ``key`` that loads none: False for a switch, else None."""
    return False if key == "pretrained" and is_switch(properties) else None


def weightless(arguments: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """A backbone's ``arguments`` without those that load weights, a switch turned off: what a backbone
    built to be measured or checked is built with (the weights change no shape, and fetching them is
    the training's job). ``properties``: its schema's."""
    kept = {key: value for key, value in arguments.items() if not is_weights(key, value)}
    return kept | ({"pretrained": False} if is_switch(properties) else {})


def wants_weights(node: object) -> bool:
    """Whether anything in a config value loads weights (a whole model's config, for the smoke-build)."""
    if isinstance(node, Mapping):
        if node.get("pretrained") or loads_checkpoint(node):
            return True
        return any(wants_weights(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(wants_weights(v) for v in node)
    return False


# The file names mmengine's checkpoint reader (``torch.load``) reads: torch.save's formats, which some
# publishers name ``.pt``, ``.pyth``, ``.torch`` or ``.pth.tar``, and a ``.zip`` holding one, which
# torch.hub unpacks when it fetches an address. A JAX ``.npz``, a safetensors file and others are not.
# Backbone arguments that say how a backbone reads its checkpoint, with the value it reads by default:
# mmdet's Swin and PVT convert the keys of their original repositories' checkpoints with
# ``convert_weights=True``; a caffe-style ResNet (``style='caffe'``: the stride in the 1x1 convolution)
# was trained as one, with its own normalisation. A checkpoint the library's own configs start from is
# written with the arguments they read it with, and is not chosen for a backbone that sets one otherwise.
READING_ARGS = {"convert_weights": False, "style": "pytorch"}


def reads_with(arguments: Mapping[str, Any], backbone: Mapping[str, Any]) -> bool:
    """Whether a checkpoint read with ``arguments`` (its ``READING_ARGS`` other than the defaults) fits a
    backbone: every reading argument the backbone sets is the one the checkpoint is read with (one it
    leaves unset takes the checkpoint's: ``convert_weights`` is written with it)."""
    return all(
        backbone[name] == arguments.get(name, default) for name, default in READING_ARGS.items() if name in backbone
    )


# A normalisation layer's family names its parameters (mmcv: ``bn1`` for BN and SyncBN, ``gn1`` for GN)
# and is what its weights were trained with, as is weight standardisation (``conv_cfg=dict(type='ConvWS')``):
# a checkpoint of one is not another's (mmdet's GroupNorm ResNets start from ``detectron/resnet50_gn``, its
# GN+WS ones from ``jhu/resnet50_gn_ws``; VGG-BN's from ``vgg11bn``). DetectoRS's ConvAWS networks start
# from plain ImageNet weights, as mmdet's configs load them. The catalog records the family of a checkpoint
# whose configs use another than the default.
NORM_FAMILIES = {"BN": "bn", "BN1d": "bn", "BN2d": "bn", "BN3d": "bn", "SyncBN": "bn", "GN": "gn", "LN": "ln"}
STANDARDISED_CONVS = frozenset({"ConvWS"})


def norm_family(args: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    """The family of the normalisation a backbone's ``norm_cfg`` and ``conv_cfg`` give (the schema's
    defaults where unset): ``bn``, ``gn``, ``gn+ws``; ``''`` for none."""

    def kind(name: str) -> str:
        value = args.get(name, (properties.get(name) or {}).get("default"))
        return str(value.get("type", "")) if isinstance(value, Mapping) else ""

    family = NORM_FAMILIES.get(kind("norm_cfg"), kind("norm_cfg"))
    return f"{family}+ws" if kind("conv_cfg") in STANDARDISED_CONVS else family


TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".bin", ".pyth", ".torch", ".ckpt", ".zip")


def torch_readable(address: str) -> bool:
    """Whether the checkpoint at ``address`` (a URL or a path) is in a format mmengine's reader loads,
    by its file name (a query string ignored)."""
    name = address.split("?", 1)[0].rsplit("/", 1)[-1].lower()
    return name.endswith(TORCH_SUFFIXES)


# The address schemes mmengine's checkpoint reader (``CheckpointLoader``) fetches from; anything else
# with ``://`` it reads as a local path, which then does not exist.
ADDRESS_SCHEMES = (
    "http",
    "https",
    "torchvision",
    "open-mmlab",
    "openmmlab",
    "mmcls",
    "modelzoo",
    "pavi",
    "s3",
    "petrel",
)
