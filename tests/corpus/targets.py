"""The target of each sampled config: a rotation over five kinds, read from the committed schemas.

Sample ``index`` gets kind ``index % 5``; a kind that does not apply to its backbone (no other option
in the same family, or the backbone already is the other family) falls to the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from corpus.sample import REPO

SCHEMA_LIBRARY = {"mmcls": "mmpretrain", "mmsegmentation": "mmseg"}

KINDS = ("a:same-family", "b:other-family", "c:other-mm-library", "d:torchvision", "e:pytorchcv")
OTHER_FAMILY = {"mmdet": "mmdet.RegNet", "mmseg": "mmseg.MobileNetV3", "mmpretrain": "mmpretrain.MobileNetV2"}
OTHER_LIBRARY: dict[str, tuple[str, tuple[str, ...]]] = {
    "mmdet": ("mmpretrain.ResNet", ("depth=18",)),
    "mmseg": ("mmdet.ResNet", ("depth=18",)),
    "mmpretrain": ("mmdet.RegNet", ()),
}
FIXED_TARGETS = {"d:torchvision": "torchvision.resnet18", "e:pytorchcv": "pytorchcv.mobilenetv2_w1"}


@dataclass(frozen=True)
class Target:
    kind: str
    backbone: str
    overrides: tuple[str, ...] = ()

    def args(self) -> list[str]:
        sets = [part for override in self.overrides for part in ("--set", override)]
        return ["--backbone", self.backbone, *sets]

    def __str__(self) -> str:
        return " ".join([self.backbone, *(f"--set {override}" for override in self.overrides)])


def qualified(backbone_type: str, library: str) -> tuple[str, str]:
    """(library, name) of a backbone type, ``mmpretrain.ResNet`` or a bare name in ``library``'s scope."""
    prefix, _, name = backbone_type.rpartition(".")
    return SCHEMA_LIBRARY.get(prefix, prefix) or library, name


def schema_of(library: str, name: str) -> dict[str, Any] | None:
    path = REPO / "schemas" / library / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def enum_of(prop: dict[str, Any]) -> list[Any]:
    if "enum" in prop:
        return list(prop["enum"])
    return next((list(alt["enum"]) for alt in prop.get("anyOf", []) if "enum" in alt), [])


def option_lists(schema: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The required args with options first, then the ``depth``/``arch`` enums."""
    required = schema.get("x-otxgen", {}).get("required_args", {})
    lists = [(name, list(options)) for name, options in required.items() if options]
    properties = schema.get("properties", {})
    lists += [(name, enum_of(properties[name])) for name in ("depth", "arch") if name in properties]
    return [(name, options) for name, options in lists if options]


def same_option(option: object, current: object) -> bool:
    """Equal, or an alias of each other (``t``/``tiny``, ``S``/``small``): those name one arch."""
    if isinstance(option, str) and isinstance(current, str):
        a, b = option.lower(), current.lower()
        return a.startswith(b) or b.startswith(a)
    return option == current


def other_option(schema: dict[str, Any], backbone: dict[str, Any]) -> tuple[str, Any] | None:
    """Another value for the first arg that has options: the smallest depth, or the first listed arch."""
    for name, options in option_lists(schema):
        current = backbone.get(name, schema.get("properties", {}).get(name, {}).get("default"))
        others = [option for option in options if not same_option(option, current)]
        if others:
            numeric = all(isinstance(option, int) for option in others)
            return name, min(others) if numeric else others[0]
    return None


def yaml_value(value: Any) -> str:
    """The ``--set`` text that YAML reads back as ``value`` (DenseNet's arch '121' must stay a string)."""
    text = str(value)
    return text if yaml.safe_load(text) == value else json.dumps(value)


def same_family(library: str, backbone: dict[str, Any]) -> Target | None:
    lib, name = qualified(str(backbone.get("type")), library)
    schema = schema_of(lib, name)
    if schema is None:
        return None
    required = schema.get("x-otxgen", {}).get("required_args", {})
    if any(not options for options in required.values()):
        return None  # a required arg the user must enter: the CLI asks for it by contract (exit 1)
    option = other_option(schema, backbone)
    if option is None:
        return None
    return Target(KINDS[0], f"{lib}.{name}", (f"{option[0]}={yaml_value(option[1])}",))


def kind_target(kind: str, library: str, backbone: dict[str, Any]) -> Target | None:
    if kind == KINDS[0]:
        return same_family(library, backbone)
    if kind == KINDS[1]:
        lib, name = qualified(str(backbone.get("type")), library)
        return None if f"{lib}.{name}" == OTHER_FAMILY[library] else Target(kind, OTHER_FAMILY[library])
    if kind == KINDS[2]:
        return Target(kind, *OTHER_LIBRARY[library])
    return Target(kind, FIXED_TARGETS[kind])


def choose_target(library: str, index: int, backbone: dict[str, Any]) -> Target:
    """The rotation's kind for sample ``index``; a kind that does not apply falls to the next one."""
    first = index % len(KINDS)
    for step in range(len(KINDS)):
        kind = KINDS[(first + step) % len(KINDS)]
        target = kind_target(kind, library, backbone)
        if target is not None:
            return target if step == 0 else Target(f"{kind} (from {KINDS[first]})", target.backbone, target.overrides)
    raise AssertionError("kinds c, d and e always apply")
