"""A pyramid for a single-stride backbone, and none for a pyramid: the neck a swap puts in front of a
detector's pyramid neck when the new backbone (a plain ViT) gives every level at one stride, and the
rescaling neck it removes when a config built around a ViT gets a backbone that is a pyramid already.

Pure but for the schema's table and a probe of the backbone's outputs (``otxgen.shapes``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from otxgen.facts.consumers import (
    LEVEL_PRESERVING_NECKS,
    PYRAMID_NECK,
    RESCALING_NECKS,
    REVERSED_NECKS,
    SAME_WIDTH_RESCALERS,
    ConsumerError,
    fed_strides,
    first_of,
    known_as,
    rescaling_factors,
    type_name,
)

if TYPE_CHECKING:
    from otxgen.schema.resolve import Catalog
    from otxgen.shapes import ShapeResult


def without_a_rescaler(host: dict[str, Any], outputs: ShapeResult, facts: list[str]) -> dict[str, Any]:
    """For a pyramid backbone (strides growing) under a rescaling neck (a config built around a ViT, or
    a ViT swap's ``[MultiLevelNeck, FPN]``), the override that removes that neck: the next neck, or the
    heads, then read the backbone. Asked before the strides are kept, which then follow the next neck."""
    neck_value = host.get("neck")
    neck = first_of(neck_value)
    strides = {o.stride for o in outputs.outputs}
    if neck is None or not known_as(neck, RESCALING_NECKS) or len(strides) < 2:
        return {}
    rest = list(neck_value[1:]) if isinstance(neck_value, (list, tuple)) else []
    facts.append(
        f"removed neck {type_name(neck)}: it rescales a single-stride backbone's levels into a pyramid, "
        f"and the new backbone's are one (strides {', '.join(str(o.stride) for o in outputs.outputs)})"
    )
    if len(rest) == 1 and isinstance(rest[0], Mapping):  # a dict where a list was: it replaces it
        return {"neck": {"_delete_": True, **rest[0]}}
    return {"neck": rest or None}


def with_a_pyramid(
    host: dict[str, Any],
    old: dict[str, Any],
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    given: set[str],
    scope: str | None,
    catalog: Catalog,
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult, dict[str, Any]]:
    """``(backbone, outputs, neck override)`` for a single-stride backbone: under a pyramid neck, the
    pyramid neck behind ``PYRAMID_NECK`` in front of it, whose factors bring the backbone's stride to
    the strides of the levels the pyramid neck reads (a patch-16 ViT for 8, 16, 32: 2, 1, 0.5; only
    those, so that every output is used), reading the deepest level (the backbone set to give it alone,
    unless it gives one per factor); under a rescaling neck, that neck's factors scaled to the new stride
    (or ``PYRAMID_NECK`` in place of a same-width rescaler of another width). The override is empty when
    neither applies; ``given``: the arguments the user set (an ``out_indices`` of theirs is not changed).
    ``ConsumerError`` where the strides cannot be reached by power-of-two factors."""
    neck_value = host.get("neck")
    neck = first_of(neck_value)
    strides = {o.stride for o in outputs.outputs}
    if len(strides) != 1 or any(o.ndim != 4 or o.stride is None for o in outputs.outputs):
        return backbone, outputs, {}
    if neck is None:
        return _before_the_heads(host, old, backbone, schema, outputs, given, scope, catalog, facts)
    rest = list(neck_value[1:]) if isinstance(neck_value, (list, tuple)) else []
    if rescaling_factors(neck) is not None:
        return _rescaler_kept(neck, rest, old, backbone, schema, outputs, given, scope, catalog, facts)
    wanted = _fed(host, old, scope, catalog)
    single = not isinstance(neck.get("in_channels"), (list, tuple))  # CenterNet's, YOLOF's: the last level
    read = ([len(wanted) - 1] if wanted else None) if single else _read_levels(neck)
    pyramid = known_as(neck, LEVEL_PRESERVING_NECKS | REVERSED_NECKS)  # YOLOV3Neck: read deepest first
    if not (pyramid or (single and "in_channels" in neck)) or wanted is None or read is None or read[-1] >= len(wanted):
        return backbone, outputs, {}
    wanted = [wanted[level] for level in read]
    stride = int(next(iter(strides)))  # type: ignore[arg-type] # checked above: every level has one
    if wanted == [stride] * len(outputs.outputs):
        return backbone, outputs, {}  # already one level per input at its stride
    backbone, outputs, stride = _powers_of_two(backbone, schema, outputs, stride, wanted, given, facts)
    factors = [stride / s for s in wanted]
    backbone, outputs = _one_level(backbone, schema, outputs, len(factors), given, facts)
    channels = [int(o.channels or 0) for o in outputs.outputs]
    out = neck.get("out_channels")
    width = out if isinstance(out, int) and not isinstance(out, bool) else channels[-1]
    name = PYRAMID_NECK[1]
    facts.append(
        f"added neck {name} before {type_name(neck)}: the new backbone gives every level at stride {stride}, "
        f"{type_name(neck)} reads strides {', '.join(map(str, wanted))}; {_resizing(channels, factors, width)}"
    )
    reads: dict[str, Any] = {"in_channels": width if single else [width] * len(wanted)}
    reads |= {"start_level": 0} if "start_level" in neck else {}
    reads |= {"end_level": -1} if "end_level" in neck else {}
    return backbone, outputs, {"neck": [_pyramid_neck(scope, channels, width, factors), {**neck, **reads}, *rest]}


def _before_the_heads(
    host: dict[str, Any],
    old: dict[str, Any],
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    given: set[str],
    scope: str | None,
    catalog: Catalog,
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult, dict[str, Any]]:
    """Without a neck, a decode head that fuses the first levels in order (UPerHead's 0, 1, 2, 3;
    Mask2Former's, which reads every level its in_channels lists), at strides that grow: ``PYRAMID_NECK``
    in front of it, whose factors bring the new backbone's one stride to the strides the head read (a
    patch-16 ViT for 4, 8, 16, 32: 4, 2, 1, 0.5, as mmseg's own ViT UPerNet configs have it), and the
    heads reading its levels at its width. Else no override (the heads then read the backbone's levels
    as they are)."""
    from otxgen.app.strides import strides_before
    from otxgen.facts.consumers import consumer_overrides

    head = host.get("decode_head")
    if not isinstance(head, Mapping):  # a cascade's list of decode heads: read as they are
        return backbone, outputs, {}
    listed = head.get("in_channels")
    index = head.get("in_index", list(range(len(listed))) if isinstance(listed, (list, tuple)) else None)
    fed = strides_before(host, old, scope, catalog)
    if not isinstance(index, (list, tuple)) or list(index) != list(range(len(index))) or len(index) < 2:
        return backbone, outputs, {}
    if head.get("input_transform") == "resize_concat":  # it resizes every level to one size: no pyramid to keep
        return backbone, outputs, {}
    if fed is None or len(fed) < len(index) or len(set(fed[: len(index)])) == 1:
        return backbone, outputs, {}
    wanted = fed[: len(index)]
    stride = int(outputs.outputs[-1].stride or 0)
    backbone, outputs, stride = _powers_of_two(backbone, schema, outputs, stride, wanted, given, facts)
    factors = [stride / s for s in wanted]
    backbone, outputs = _one_level(backbone, schema, outputs, len(factors), given, facts)
    channels = [int(o.channels or 0) for o in outputs.outputs]
    width = channels[-1]
    facts.append(
        f"added neck {PYRAMID_NECK[1]}: the new backbone gives every level at stride {stride}, {type_name(head)} "
        f"reads strides {', '.join(map(str, wanted))}; {_resizing(channels, factors, width)}"
    )
    heads = consumer_overrides({**host, "neck": None}, [width] * len(wanted))
    return backbone, outputs, {**heads, "neck": _pyramid_neck(scope, channels, width, factors)}


def _resizing(channels: list[int], factors: list[float], width: int) -> str:
    level = "the one level" if len(channels) == 1 else "each level"
    return f"it resizes {level} by {', '.join(f'{f:g}' for f in factors)} into {width} channels"


def _read_levels(neck: Mapping[str, Any]) -> list[int] | None:
    """The input levels a pyramid neck reads: ``start_level`` to ``end_level`` (inclusive; -1: the last)."""
    channels = neck.get("in_channels")
    count = len(channels) if isinstance(channels, (list, tuple)) else 0
    start, end = neck.get("start_level", 0), neck.get("end_level", -1)
    if not isinstance(start, int) or not isinstance(end, int) or not count:
        return None
    last = count - 1 if end == -1 else end
    return list(range(start, last + 1)) or None


def _powers_of_two(
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    stride: int,
    wanted: list[int],
    given: set[str],
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult, int]:
    """The backbone, its outputs and stride, made with a power-of-two patch where its stride is not one
    to the wanted strides; ``ConsumerError`` where it cannot be."""
    if _factors(stride, wanted) is None:
        backbone, outputs, stride = _repatched(backbone, schema, outputs, stride, wanted, given, facts)
    if _factors(stride, wanted) is None:
        message = (
            f"{backbone['type']} gives every level at stride {stride}, and no power-of-two resizing brings it to "
            f"the strides {', '.join(map(str, wanted))} the neck reads; choose a patch size of 8, 16 or 32"
        )
        raise ConsumerError(("neck",), message)
    return backbone, outputs, stride


def _rescaler_kept(
    neck: Mapping[str, Any],
    rest: list[Any],
    old: dict[str, Any],
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    given: set[str],
    scope: str | None,
    catalog: Catalog,
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult, dict[str, Any]]:
    """A ViT for a ViT under a rescaling neck: it reads one level or one per factor, and its factors
    follow the new stride (a patch-8 ViT where a patch-16 one was: 2, 1, 0.5, 0.25 for 4, 2, 1, 0.5),
    so that its outputs stay at the strides they were; a same-width rescaler (BEiT's Feature2Pyramid)
    of another width, count or factors becomes ``PYRAMID_NECK`` at its width."""
    from otxgen.schema.table import ChannelTable

    held = rescaling_factors(neck) or []
    backbone, outputs = _one_level(backbone, schema, outputs, len(held), given, facts)
    stride = int(outputs.outputs[-1].stride or 0)
    before = set(ChannelTable.for_config(old, scope, catalog).strides() or [])
    was = next(iter(before)) if len(before) == 1 else stride
    factors = [f * stride / was for f in held]
    targets = [stride / f for f in factors]  # the strides its outputs came at
    if any(t != int(t) for t in targets) or _factors(stride, [int(t) for t in targets]) is None:
        message = f"{type_name(neck)} cannot resize stride {stride} by powers of two to the strides it gave"
        raise ConsumerError(("neck",), f"{message} ({', '.join(f'{t:g}' for t in targets)})")
    width = neck.get(SAME_WIDTH_RESCALERS.get(known_as(neck, SAME_WIDTH_RESCALERS), ""))
    channels = [int(o.channels or 0) for o in outputs.outputs]
    if not isinstance(width, int):  # it takes in_channels (the consumer overrides set them)
        if factors == held:
            return backbone, outputs, {}
        argument = RESCALING_NECKS[known_as(neck, RESCALING_NECKS)][0]
        facts.append(f"neck {type_name(neck)} {argument}={factors}: the new backbone's stride is {stride}, not {was}")
        rescaled = {**neck, argument: [int(f) if f == int(f) else f for f in factors]}
        return backbone, outputs, {"neck": [rescaled, *rest] if rest else {argument: rescaled[argument]}}
    if width == channels[-1] and len(channels) == len(held) and factors == held:
        return backbone, outputs, {}
    facts.append(
        f"neck {type_name(neck)} (for {len(held)} levels of {width} channels at stride {was}) replaced by "
        f"{PYRAMID_NECK[1]} at its width: the new backbone gives {len(channels)} of {channels[-1]} at {stride}"
    )
    pyramid = _pyramid_neck(scope, channels, width, factors)
    return backbone, outputs, {"neck": [pyramid, *rest] if rest else {"_delete_": True, **pyramid}}


def _pyramid_neck(scope: str | None, channels: list[int], width: int, factors: list[float]) -> dict[str, Any]:
    library, name = PYRAMID_NECK
    return {
        "type": name if scope == library else f"{library}.{name}",
        "in_channels": channels,
        "out_channels": width,
        "scales": [int(f) if f == int(f) else f for f in factors],
    }


def _fed(host: dict[str, Any], old: dict[str, Any], scope: str | None, catalog: Catalog) -> list[int] | None:
    """The strides the pyramid neck was fed at, level by level: those its anchors say, else the old
    backbone's (its table's, else probed: Semantic FPN's dilation-free ResNetV1c sets ``strides``)."""
    from otxgen.app.strides import strides_before

    return fed_strides(host) or strides_before(host, old, scope, catalog)


def _factors(stride: int, wanted: list[int]) -> list[float] | None:
    """The resize factor of each level, ``stride / wanted``, where each is a power of two (bilinear
    resizing by a fraction such as 3.5 would put the maps off the anchors' grid)."""
    from fractions import Fraction

    factors = [Fraction(stride, s) for s in wanted]
    if all(f.numerator & (f.numerator - 1) == 0 and f.denominator & (f.denominator - 1) == 0 for f in factors):
        return [float(f) for f in factors]
    return None


def _repatched(
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    stride: int,
    wanted: list[int],
    given: set[str],
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult, int]:
    """A ViT whose patch is not a power of two (DINOv2's 14) made with the nearest one, where its
    library resamples a checkpoint's patch embedding on load and the user did not set the patch."""
    from otxgen.facts.libraries import PATCH_SIZE_ARGS
    from otxgen.shapes import ProbeError, probe_outputs

    argument = PATCH_SIZE_ARGS.get(str((schema.get("x-otxgen") or {}).get("library")))
    if argument is None or argument in given:
        return backbone, outputs, stride
    patch = 2 ** round(math.log2(stride))
    adjusted = {**backbone, argument: patch}
    try:
        result = probe_outputs(adjusted, input_size=16 * patch)  # a multiple of the patch, as padded images are
    except ProbeError:
        return backbone, outputs, stride
    strides = {o.stride for o in result.outputs}
    if len(strides) != 1 or _factors(patch, wanted) is None or strides != {patch}:
        return backbone, outputs, stride
    facts.append(
        f"{argument}={patch} (the model's is {stride}): a pyramid's strides are powers of two; "
        "a checkpoint's patch embedding is resampled to it when it loads"
    )
    return adjusted, result, patch


def _one_level(
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    factors: int,
    given: set[str],
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult]:
    """The backbone reading one level per factor as it is, else its deepest level alone (ViTDet's)."""
    from otxgen.schema.table import ChannelTable
    from otxgen.shapes import ProbeError, probe_outputs, static_outputs

    count = len(outputs.outputs)
    if count in (1, factors):
        return backbone, outputs
    stages = ChannelTable(schema).stages(backbone)
    if "out_indices" in given or not stages:
        message = f"the neck reads one level or {factors}; the new backbone gives {count}: set out_indices to give one"
        raise ConsumerError(("neck",), message)
    adjusted = {**backbone, "out_indices": (len(stages) - 1,)}
    try:
        result = static_outputs(adjusted, schema) if outputs.tier == "static" else probe_outputs(adjusted)
    except ProbeError as error:
        raise ConsumerError(("neck",), f"{backbone['type']} does not give its deepest level alone: {error}") from None
    if result is None or len(result.outputs) != 1:
        message = f"the neck reads one level or {factors}; {backbone['type']} gives {count}"
        if "out_indices" not in schema.get("properties", {}):
            raise ConsumerError(("neck",), f"{message} and takes no out_indices to choose one")
        raise ConsumerError(("neck",), f"{message}: set out_indices to give the deepest one")
    facts.append(f"out_indices={adjusted['out_indices']}: the deepest level, which the neck resizes into a pyramid")
    return adjusted, result
