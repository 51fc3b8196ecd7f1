"""What a swap carries over from the old backbone to the new one, and what it drops (the rule
docs/swap.md documents):

- same type (``ResNetV1c`` depth 101 -> 18): everything the config and its bases set (dilations, strides,
  ``norm_cfg``, ``contract_dilation``, ``out_indices``...) except the weights; what you set wins, and an
  input-size argument you set (``img_size``) drops the old ones (``tile_size``), which the plan derives;
- another type: the arguments of the same meaning that the new schema accepts (``CARRIED``); an index
  into the old family's stages (``frozen_stages``) at the old type's default means "none frozen", which
  the new type says with its own default (ResNet's -1 is out of EfficientNet's range, whose "none" is
  0), so there the new default stands; nor does such an index carry between a pyramid and a
  single-stride backbone (a ResNet's first stage is a quarter of it, a ViT's one block of twelve); every
  other old argument is named in one ``[!]`` line, since ``_delete_`` drops it.
"""

from __future__ import annotations

from typing import Any

from otxgen.facts.checkpoints import is_weights
from otxgen.facts.libraries import SIZE_ARGS

# Arguments of the same meaning across backbone families, carried into a backbone of another type.
CARRIED = ("norm_cfg", "norm_eval", "frozen_stages", "with_cp")
# Of those, the ones that count the family's stages: at the old type's default they mean its "none".
STAGE_COUNTS = ("frozen_stages",)


def changes(old: dict[str, Any], new: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``new`` whose value differs from ``old``'s. A removed weight takes the value that
    loads none (a switch's ``pretrained=False``: ``facts.checkpoints.no_weights``)."""
    from otxgen.facts.checkpoints import no_weights
    from otxgen.facts.values import same_value

    properties = schema.get("properties", {})
    differ = {k: v for k, v in new.items() if k not in old or not same_value(old[k], v)}
    return differ | {k: no_weights(k, properties) for k in old if is_weights(k, old[k]) and k not in new}


def new_backbone(
    old: dict[str, Any],
    requested: dict[str, Any],
    schema: dict[str, Any],
    old_schema: dict[str, Any] | None,
    same_type: bool,
    notes: list[str],
) -> dict[str, Any]:
    """The new backbone with what the old one carries over (see the module docstring); ``old_schema``:
    the old type's, None when it is not a listed backbone (then what it sets counts as chosen)."""
    kept = {k: v for k, v in old.items() if k not in ("type", "_delete_") and not is_weights(k, v)}
    from otxgen.facts.values import same_value

    dropped_weights = [k for k in old if is_weights(k, old[k]) and not same_value(old[k], requested.get(k))]
    if dropped_weights:
        gone = [f"{'replaced' if requested.get(k) is not None else 'removed'} {k}" for k in dropped_weights]
        notes.append(f"the old backbone's weights are not loaded into the new one: {', '.join(gone)}")
    if same_type:
        stale = [k for k in kept if k in SIZE_ARGS and k not in requested] if SIZE_ARGS & set(requested) else []
        if stale:
            notes.append(f"not carried over: {', '.join(stale)}, since the input size is given anew")
        kept = {k: v for k, v in kept.items() if k not in stale}
        return {"type": requested["type"], **kept, **{k: v for k, v in requested.items() if k != "type"}}
    properties = schema.get("properties", {})
    old_properties = (old_schema or {}).get("properties", {})
    defaults = [k for k in STAGE_COUNTS if k in kept and _is_default(kept[k], old_properties.get(k, {}))]
    alike = old_schema is None or _single_stride(schema) == _single_stride(old_schema)
    carried = {
        k: kept[k]
        for k in CARRIED
        if k in kept
        and k in properties
        and k not in requested
        and k not in defaults
        and (alike or k not in STAGE_COUNTS)
        and _fits(k, kept[k], properties[k])
    }
    lost = [k for k, v in kept.items() if k not in (*carried, *defaults) and k not in requested and v is not None]
    if lost:
        notes.append(f"not carried over from the old {old['type']} (another type): {', '.join(lost)}")
    return {**requested, **carried}


def _single_stride(schema: dict[str, Any]) -> bool:
    """Whether the backbone's stages all come at one stride (a ViT's blocks), by its table."""
    from otxgen.schema.table import ChannelTable

    stages = ChannelTable(schema).stages({}) or []
    return len(stages) > 1 and len({row.get("stride") for row in stages}) == 1


def _is_default(value: Any, prop: dict[str, Any]) -> bool:
    from otxgen.facts.values import same_value

    return "default" in prop and same_value(value, prop["default"])


def _fits(key: str, value: Any, prop: dict[str, Any]) -> bool:
    """A norm config carries over within its family only: batch norm (BN, SyncBN) into a backbone built
    for batch norm, but not into ConvNeXt's channel-wise LayerNorm (``LN2d``), whose blocks call it
    with arguments a BN does not take."""
    if key != "norm_cfg":
        return True
    default = prop.get("default")
    new = default.get("type") if isinstance(default, dict) else None
    old = value.get("type") if isinstance(value, dict) else None
    return new is None or not isinstance(old, str) or _norm_family(old) == _norm_family(str(new))


def _norm_family(norm_type: str) -> str:
    return "batch" if "BN" in norm_type or "BatchNorm" in norm_type else norm_type


def misfits(
    old: dict[str, Any], backbone: dict[str, Any], requested: dict[str, Any], schema: dict[str, Any], notes: list[str]
) -> list[str]:
    """The old arch's options that a same-type backbone of another arch does not construct with
    (ResNet-101's ``dcn`` does not fit ResNet-18's basic blocks). Only asked when it keeps such options,
    so only then is torch imported: the backbone alone is built, never the config."""
    from otxgen.schema.table import same

    key = ((schema.get("x-otxgen") or {}).get("channels") or {}).get("key")
    properties = schema.get("properties", {})
    if (
        key is None
        or key not in requested
        or same(old.get(key, properties.get(key, {}).get("default")), requested[key])
    ):
        return []
    risky = [
        name
        for name, value in backbone.items()
        if name not in (*requested, *CARRIED, "type", "out_indices")
        and "stride" not in name
        and "dilation" not in name
        and not ("default" in properties.get(name, {}) and same(value, properties[name]["default"]))
    ]
    if not risky:
        return []
    from otxgen.shapes import construction_error

    error = construction_error(backbone)
    if error is None:
        return []
    notes.append(f"{key}={requested[key]!r} does not construct with the old {', '.join(risky)} ({error}): dropped")
    return risky
