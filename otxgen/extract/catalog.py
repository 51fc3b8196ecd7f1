"""The catalog block of a schema (``x-otxgen.catalog``), made at ``schema export``: per arch option,
the published checkpoints (from the library's metadata, see the adapters' ``published``) and the cost
measured on the meta device (``otxgen.extract.costs``); under ``reshaped``, the checkpoints of the
library's configs that set a shape argument away from its default (Swin-S's ``depths``, MiT-B0's
``embed_dims``: sizes of a backbone without arch options), by those arguments.
``otxgen.schema.published`` reads it.

Measured costs are reused from the committed schema while its fingerprint holds, like channel tables.
A checkpoint published by address only (an mmdet config's ``torchvision://resnet50``) takes the figures
of the record with the same address (torchvision's weight enum).
"""

from __future__ import annotations

from typing import Any

from otxgen.facts.checkpoints import norm_family
from otxgen.schema.published import DEFAULT_ARCH, arch_label, at_default, reshaped_label

Pairs = list[tuple[dict[str, Any], dict[str, Any]]]
_FIGURES = ("data", "top1", "top5", "input_size", "params", "gflops", "mean", "std", "rgb")


def catalog_block(
    entry: Any, schema: dict[str, Any], previous: dict[str, Any] | None, published: Pairs, by_url: dict[str, Any]
) -> dict[str, Any]:
    """``{"key", "archs": {label: {"measured": {...}, "checkpoints": [...]}}}`` for one backbone."""
    from otxgen.extract.arch import arch_table

    arch = arch_table(entry.target, set(schema["properties"]))
    key: str | None = arch[0] if arch else None
    options, table = (arch[1], arch[2]) if arch else ([DEFAULT_ARCH], {})
    reused = (previous or {}).get("archs") or {}
    archs: dict[str, Any] = {}
    measured_for: dict[str, dict[str, Any]] = {}
    for option in options:
        label = str(option)
        setting = repr(table.get(option))
        if setting not in measured_for:
            old = (reused.get(label) or {}).get("measured")
            measured_for[setting] = old if previous is not None and old else _measure(entry, schema, key, option)
        archs[label] = {"measured": measured_for[setting], "checkpoints": []}
    block: dict[str, Any] = {"key": key, "archs": archs}
    shape_args = _shape_args(schema, key)
    reshaped: dict[str, Any] = {}
    plain = norm_family({}, schema["properties"])
    for args, record in published:
        found = arch_label(block, schema, args)
        if found is None:
            continue  # a custom arch dict
        family = norm_family(args, schema["properties"])
        record = record if family == plain else {**record, "norm": family}  # trained with other norm layers
        moved = {name: args[name] for name in shape_args if not at_default(schema, name, args)}
        if moved:  # this arch reshaped (Swin-S, a ResNeXt's groups): the weights of that shape
            arguments = {**({key: next(o for o in options if str(o) == found)} if key else {}), **moved}
            entry = reshaped.setdefault(reshaped_label(arguments), {"arguments": arguments, "checkpoints": []})
            _listed(entry["checkpoints"], record, by_url)
        else:
            _listed(archs[found]["checkpoints"], record, by_url)
    for value in [*archs.values(), *reshaped.values()]:
        value["checkpoints"].sort(key=lambda r: (-(r.get("top1") or 0), r["name"]))
    if reshaped:
        block["reshaped"] = {"arguments": shape_args, "archs": dict(sorted(reshaped.items()))}
    return block


def _listed(listed: list[dict[str, Any]], record: dict[str, Any], by_url: dict[str, Any]) -> None:
    """``record`` added to ``listed``: once per checkpoint, counting the configs that start from it."""
    twin = next((c for c in listed if c.get("url") == record.get("url")), None)
    if twin is None:
        listed.append(_joined(record, by_url))
    elif record.get("configs"):  # the same checkpoint again: one more config starts from it
        twin["configs"] = twin.get("configs", 0) + record["configs"]


_WEIGHT_NEUTRAL = ("stride", "dilation", "multi_grid")  # move a conv's window, not its weights


def _shape_args(schema: dict[str, Any], key: str | None) -> list[str]:
    """The arguments that reshape a network's weights: the channel table's shape arguments (or, without
    one, every argument but the shape-neutral ones) except strides and dilations, which a segmentor
    changes (ResNetV1c at output stride 8) while its ImageNet checkpoint still loads."""
    from otxgen.facts.arguments import NEUTRAL_ARGS

    channels = schema["x-otxgen"].get("channels")
    if channels:
        names = list(channels.get("shape_args") or [])
    else:
        names = [n for n in schema["properties"] if n not in NEUTRAL_ARGS and n not in {"type", key, "out_indices"}]
    return [n for n in names if not any(part in n for part in _WEIGHT_NEUTRAL)]


def _measure(entry: Any, schema: dict[str, Any], key: str | None, option: Any) -> dict[str, Any]:
    from otxgen.extract.costs import measure_cost

    required = schema["x-otxgen"].get("required_args") or {}
    cfg: dict[str, Any] = {"type": entry.type, **{name: values[0] for name, values in required.items() if values}}
    if key is not None:
        cfg[key] = option
    return measure_cost(cfg)


def _joined(record: dict[str, Any], by_url: dict[str, Any]) -> dict[str, Any]:
    """The record with the figures it lacks taken from the record published at the same address."""
    same = by_url.get(record.get("url") or "")
    filled = dict(record)
    if same is not None and same is not record:
        for name in _FIGURES:
            if filled.get(name) is None and same.get(name) is not None:
                filled[name] = same[name]
        filled.setdefault("same_as", same["name"])
    return {k: v for k, v in sorted(filled.items()) if v is not None}


def url_index(published: dict[str, Pairs]) -> dict[str, Any]:
    """Records by address, the first publisher's (in the order given) winning."""
    found: dict[str, Any] = {}
    for pairs in published.values():
        for _, record in pairs:
            if record.get("url"):
                found.setdefault(record["url"], record)
    return found
