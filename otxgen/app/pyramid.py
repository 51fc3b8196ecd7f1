"""A pyramid for a single-stride backbone, and none for a pyramid: the neck a swap puts in front of a
detector's pyramid neck when the new backbone (a plain ViT) gives every level at one stride, and the
rescaling neck it removes when a config built around a ViT gets a backbone that is a pyramid already.

Pure but for the schema's table and a probe of the backbone's outputs (``otxgen.shapes``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from otxgen.facts.consumers import (
    LEVEL_PRESERVING_NECKS,
    PYRAMID_NECK,
    RESCALING_NECKS,
    SAME_WIDTH_RESCALERS,
    ConsumerError,
    fed_strides,
    first_of,
    rescaling_factors,
    type_name,
)

if TYPE_CHECKING:
    from otxgen.schema.resolve import Catalog
    from otxgen.shapes import ShapeResult


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
    """``(backbone, outputs, neck override)``: for a single-stride backbone under a pyramid neck, the
    pyramid neck behind ``PYRAMID_NECK``, whose factors bring the backbone's stride to the strides the
    pyramid neck was fed at (a patch-16 ViT for 4, 8, 16, 32: 4, 2, 1, 0.5), reading the deepest level
    (the backbone set to give it alone, unless it gives one per factor); for a pyramid backbone under a
    rescaling neck, that neck removed (the heads then read the backbone). The override is empty when
    neither applies; ``given``: the arguments the user set (an ``out_indices`` of theirs is not changed).
    ``ConsumerError`` where the strides cannot be reached by the neck's factors."""
    neck_value = host.get("neck")
    neck = first_of(neck_value)
    strides = {o.stride for o in outputs.outputs}
    if neck is None or not outputs.outputs or any(o.ndim != 4 or o.stride is None for o in outputs.outputs):
        return backbone, outputs, {}
    rest = list(neck_value[1:]) if isinstance(neck_value, (list, tuple)) else []
    if type_name(neck) in RESCALING_NECKS and len(strides) > 1:
        facts.append(
            f"removed neck {type_name(neck)}: it rescales a single-stride backbone's levels into a pyramid, "
            f"and the new backbone's are one (strides {', '.join(str(o.stride) for o in outputs.outputs)})"
        )
        return backbone, outputs, {"neck": (rest[0] if len(rest) == 1 else rest) or None}
    held = rescaling_factors(neck)
    if held is not None:  # a ViT for a ViT: the rescaling neck reads one level or one per factor
        backbone, outputs = _one_level(backbone, schema, outputs, len(held), given, facts)
        width = neck.get(SAME_WIDTH_RESCALERS.get(type_name(neck), ""))
        fits = width == outputs.outputs[-1].channels and len(outputs.outputs) == len(held)
        if not isinstance(width, int) or fits:
            return backbone, outputs, {}
        pyramid = _pyramid_neck(scope, [int(o.channels or 0) for o in outputs.outputs], width, held)
        facts.append(
            f"neck {type_name(neck)} (for {len(held)} levels of {width} channels) replaced by {PYRAMID_NECK[1]} at "
            f"its factors and width: the new backbone gives {len(outputs.outputs)} of {outputs.outputs[-1].channels}"
        )
        return backbone, outputs, {"neck": [pyramid, *rest] if rest else {"_delete_": True, **pyramid}}
    wanted = _fed(host, old, scope, catalog)
    if type_name(neck) not in LEVEL_PRESERVING_NECKS or len(strides) > 1 or wanted is None or len(set(wanted)) < 2:
        return backbone, outputs, {}
    stride = int(next(iter(strides)))  # type: ignore[arg-type] # checked above: every level has one
    if _factors(stride, wanted) is None:
        backbone, outputs, stride = _repatched(backbone, schema, outputs, stride, wanted, given, facts)
    factors = _factors(stride, wanted)
    if factors is None:
        message = (
            f"{backbone['type']} gives every level at stride {stride}, and no power-of-two resizing brings it to "
            f"the strides {', '.join(map(str, wanted))} the neck was fed at; choose a patch size of 8, 16 or 32"
        )
        raise ConsumerError(("neck",), message)
    backbone, outputs = _one_level(backbone, schema, outputs, len(factors), given, facts)
    channels = [int(o.channels or 0) for o in outputs.outputs]
    out = neck.get("out_channels")
    width = out if isinstance(out, int) and not isinstance(out, bool) else channels[-1]
    name = PYRAMID_NECK[1]
    pyramid = _pyramid_neck(scope, channels, width, factors)
    facts.append(
        f"added neck {name} before {type_name(neck)}: the new backbone gives every level at stride {stride}, "
        f"{type_name(neck)} was fed strides {', '.join(map(str, wanted))}; it resizes "
        f"{'the deepest level' if len(channels) == 1 else 'each level'} by {', '.join(f'{f:g}' for f in factors)} "
        f"into {width} channels"
    )
    return backbone, outputs, {"neck": [pyramid, {**neck, "in_channels": [width] * len(wanted)}, *rest]}


def _pyramid_neck(scope: str | None, channels: list[int], width: int, factors: list[float]) -> dict[str, Any]:
    library, name = PYRAMID_NECK
    return {
        "type": name if scope == library else f"{library}.{name}",
        "in_channels": channels,
        "out_channels": width,
        "scales": [int(f) if f == int(f) else f for f in factors],
    }


def _fed(host: dict[str, Any], old: dict[str, Any], scope: str | None, catalog: Catalog) -> list[int] | None:
    """The strides the pyramid neck was fed at: those its anchors say, else the old backbone's table's."""
    from otxgen.schema.table import ChannelTable

    return fed_strides(host) or ChannelTable.for_config(old, scope, catalog).strides()


def _factors(stride: int, wanted: list[int]) -> list[float] | None:
    """The resize factor of each level, ``stride / wanted``, where each is a power of two (bilinear
    resizing by a fraction such as 3.5 would put the maps off the anchors' grid)."""
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
