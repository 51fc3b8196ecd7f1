"""The ONE reader of a schema's catalog block (``x-otxgen.catalog``, made by ``extract.catalog``): per arch
option its published ImageNet checkpoints and its cost, and those of the sizes the library's configs
give by shape arguments (``reshaped``: Swin-S is mmdet's SwinTransformer with ``depths=[2, 2, 18, 2]``).
Pure, no torch: ``find``, ``build --weights`` and ``validate`` all ask it.

Figures come from the libraries' metadata where they have them (``source`` names the publisher),
otherwise from the measurement on the meta device (``source`` is ``measured``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otxgen.facts.checkpoints import torch_readable

DEFAULT_ARCH = "default"  # the label of a backbone without arch options
IMAGENET_1K = "ImageNet-1k"  # the data a checkpoint's ``data`` names last when it classifies ImageNet-1k
TRAINED_SIZE = 224  # the input size a swapped template trains at: checkpoints trained there come first


@dataclass(frozen=True)
class Checkpoint:
    name: str
    publisher: str
    url: str | None
    hub_id: str | None = None
    data: tuple[str, ...] = ()
    top1: float | None = None
    top5: float | None = None
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    rgb: bool | None = None
    prefix: str | None = None
    params: int | None = None
    gflops: float | None = None
    configs: int = 0  # how many of the library's own configs start from it
    arguments: tuple[tuple[str, Any], ...] = ()  # those configs read it with these (``facts.checkpoints.READING_ARGS``)
    norm: str | None = None  # the family of its norm layers where not the schema's default (``norm_family``)

    @classmethod
    def of(cls, record: dict[str, Any]) -> Checkpoint:
        def floats(name: str) -> tuple[float, ...] | None:
            value = record.get(name)
            return tuple(float(v) for v in value) if isinstance(value, list) else None

        return cls(
            name=str(record["name"]),
            publisher=str(record["publisher"]),
            url=record.get("url"),
            hub_id=record.get("hub_id"),
            data=tuple(record.get("data") or ()),
            top1=record.get("top1"),
            top5=record.get("top5"),
            input_size=record.get("input_size"),
            mean=floats("mean"),
            std=floats("std"),
            rgb=record.get("rgb"),
            prefix=record.get("prefix"),
            params=record.get("params"),
            gflops=record.get("gflops"),
            configs=int(record.get("configs") or 0),
            arguments=tuple(sorted((record.get("arguments") or {}).items())),
            norm=record.get("norm"),
        )

    @property
    def address(self) -> str | None:
        """What a config writes: the library's own name for it (``torchvision://resnet50``,
        ``open-mmlab://resnet50_v1c``) where it has one, else the URL."""
        named = "://" in self.name and not self.name.startswith(("http://", "https://"))
        return self.name if named else self.url

    def as_json(self) -> dict[str, Any]:
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items() if v not in (None, (), 0)}
        return data | ({"arguments": dict(self.arguments)} if self.arguments else {})


@dataclass(frozen=True)
class Figure:
    value: float | int | None
    source: str  # the publisher, "measured", or "" when unknown


@dataclass(frozen=True)
class Arch:
    labels: tuple[str, ...]  # the arch option and its aliases (same setting), first the canonical one
    params: Figure
    gflops: Figure
    checkpoints: tuple[Checkpoint, ...]
    measured_error: str | None = None
    reshaped: bool = False  # a size its library's configs give by shape arguments, not an arch option

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def top1(self) -> float | None:
        return max((c.top1 for c in self.checkpoints if c.top1 is not None), default=None)


def block_of(schema: dict[str, Any]) -> dict[str, Any] | None:
    block = (schema.get("x-otxgen") or {}).get("catalog")
    return block if isinstance(block, dict) else None


def arch_label(block: dict[str, Any], schema: dict[str, Any], args: dict[str, Any]) -> str | None:
    """The arch option that ``args`` (a backbone's arguments) selects, or None when it is none of them
    (a custom arch dict)."""
    key = block.get("key")
    archs = block.get("archs") or {}
    if key is None:
        return DEFAULT_ARCH if DEFAULT_ARCH in archs else None
    value = args.get(key, (schema.get("properties", {}).get(key) or {}).get("default"))
    if isinstance(value, (dict, list)) or value is None:
        return None
    for label in (str(value), str(value).lower()):
        if label in archs:
            return label
    return None


def archs(schema: dict[str, Any]) -> list[Arch]:
    """Every arch option, aliases of one setting grouped (ViT's ``b``, ``base``, ``deit-b``...)."""
    block = block_of(schema)
    if block is None:
        return []
    groups: dict[str, list[str]] = {}
    raw = block.get("archs") or {}
    for label, value in raw.items():
        groups.setdefault(repr(value), []).append(label)
    return [_arch(tuple(labels), raw[labels[0]]) for labels in groups.values()]


def arch_of(schema: dict[str, Any], backbone: dict[str, Any]) -> Arch | None:
    """The catalog entry of the arch that ``backbone`` (``{"type": ..., **args}``) selects: the size its
    shape arguments give where the catalog has it, else its arch option's; None for a size of a backbone
    without arch options that no config of its library publishes weights for."""
    block = block_of(schema)
    if block is None:
        return None
    reshaped = _reshaped(block, schema, backbone)
    if reshaped is not None:
        size, value = reshaped
        if value is not None:
            return _arch((size,), value, reshaped=True)
        if block.get("key") is None:
            return None
    label = arch_label(block, schema, backbone)
    if label is None:
        return None
    return next((a for a in archs(schema) if label in a.labels), None)


def as_published(schema: dict[str, Any], backbone: dict[str, Any]) -> dict[str, Any]:
    """The backbone the catalog measured, and published checkpoints for, of the arch that ``backbone``
    selects (``arch_of``): its type and arch key as ``backbone`` has them, and the shape arguments of a
    size the catalog has, every other argument at its default."""
    block = block_of(schema) or {}
    reshaped = _reshaped(block, schema, backbone)
    if reshaped is not None and reshaped[1] is not None:
        return {"type": backbone["type"], **reshaped[1]["arguments"]}
    key = block.get("key")
    return {k: v for k, v in backbone.items() if k == "type" or k == key}


def reshaped_label(arguments: dict[str, Any]) -> str:
    """The label of a size given by arguments: each as a config writes it, by name (tuples as lists)."""
    return ", ".join(f"{name}={_as_list(value)!r}" for name, value in sorted(arguments.items()))


def at_default(schema: dict[str, Any], name: str, args: dict[str, Any]) -> bool:
    """Whether ``args`` leaves the argument ``name`` at the schema's default (or does not give it)."""
    from otxgen.facts.values import same_value

    prop = schema["properties"].get(name) or {}
    return name not in args or ("default" in prop and same_value(args[name], prop["default"]))


def _reshaped(
    block: dict[str, Any], schema: dict[str, Any], backbone: dict[str, Any]
) -> tuple[str, dict[str, Any] | None] | None:
    """``(label, entry)`` of the size ``backbone``'s shape arguments give (the entry None where the catalog
    has none of that size); None where they are all at their default, or the catalog records no sizes."""
    reshaped = block.get("reshaped") or {}
    moved = {name: backbone[name] for name in reshaped.get("arguments") or () if not at_default(schema, name, backbone)}
    if not moved:
        return None
    key = block.get("key")
    if key is not None:
        moved[key] = backbone.get(key, (schema.get("properties", {}).get(key) or {}).get("default"))
    label = reshaped_label(moved)
    return label, (reshaped.get("archs") or {}).get(label)


def _as_list(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_as_list(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_list(item) for key, item in sorted(value.items())}
    return value


def _arch(labels: tuple[str, ...], value: dict[str, Any], reshaped: bool = False) -> Arch:
    checkpoints = tuple(Checkpoint.of(r) for r in value.get("checkpoints") or [])
    measured = value.get("measured") or {}
    costed = next((c for c in checkpoints if c.input_size in (None, TRAINED_SIZE) and c.params is not None), None)
    params = Figure(costed.params, costed.publisher) if costed else Figure(measured.get("params"), "measured")
    flopped = next((c for c in checkpoints if c.input_size in (None, TRAINED_SIZE) and c.gflops is not None), None)
    gflops = Figure(flopped.gflops, flopped.publisher) if flopped else Figure(measured.get("gflops"), "measured")
    return Arch(labels, params, gflops, checkpoints, measured.get("error"), reshaped)


def choose(arch: Arch) -> tuple[Checkpoint | None, str]:
    """The checkpoint ``--weights auto`` writes for ``arch`` and why; None (and why) when none loads
    without a download tool: a checkpoint needs an address mmengine can load."""
    loadable = [c for c in arch.checkpoints if c.url and torch_readable(c.url)]
    if not loadable:
        hub = [c.hub_id for c in arch.checkpoints if c.hub_id]
        other = [c.url for c in arch.checkpoints if c.url]
        if other:
            return None, (
                f"its {len(other)} published checkpoint(s) are in a format mmengine cannot read "
                f"(e.g. {other[0].rsplit('/', 1)[-1]}; it reads torch.save files)"
            )
        if hub:
            return None, f"its {len(hub)} published checkpoint(s) are on a model hub only (e.g. {hub[0]})"
        return None, "its library's metadata lists no ImageNet checkpoint for this arch"
    at_size = [c for c in loadable if c.input_size in (None, TRAINED_SIZE)] or loadable
    where = f" at {TRAINED_SIZE} px" if at_size is not loadable else ""
    # an ImageNet-1k classifier's weights (trained or fine-tuned on it last) before an ImageNet-21k one's
    last_on_1k = [c for c in at_size if c.data[-1:] == (IMAGENET_1K,)]
    if last_on_1k and len(last_on_1k) < len(at_size):
        at_size, where = last_on_1k, f"{where}, trained on {IMAGENET_1K} last"
    rated = [c for c in at_size if c.top1 is not None]
    if rated:
        best = max(rated, key=lambda c: (c.top1 or 0.0, c.name))
        return best, f"best top-1 ({best.top1:.2f}) of {len(rated)} rated checkpoint(s){where}"
    used = [c for c in at_size if c.configs]
    if used:
        best = max(used, key=lambda c: (c.configs, c.name))
        return best, f"the one {best.configs} of {best.publisher}'s own configs start from"
    return at_size[0], f"the only one published{where}" if len(
        at_size
    ) == 1 else f"the first of {len(at_size)} published{where}"


def find(schema: dict[str, Any], url: str) -> tuple[Arch, Checkpoint] | None:
    """The published checkpoint at ``url`` among the arch options and sizes of ``schema``, with its arch."""
    reshaped = ((block_of(schema) or {}).get("reshaped") or {}).get("archs") or {}
    for arch in [*archs(schema), *(_arch((label,), value, reshaped=True) for label, value in reshaped.items())]:
        for checkpoint in arch.checkpoints:
            if url in (checkpoint.url, checkpoint.address):
                return arch, checkpoint
    return None
