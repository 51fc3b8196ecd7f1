"""The strides a swap keeps: ``out_indices`` for the new backbone chosen so that its maps come at the
strides the config's neck, anchors and heads were built for. Pure but for the schema's table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otxgen.schema.resolve import Catalog
    from otxgen.shapes import ShapeResult


def keeping_strides(
    host: dict[str, Any],
    old: dict[str, Any],
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    catalog: Catalog,
    library: str | None,
    facts: list[str],
    notes: list[str],
) -> tuple[dict[str, Any], ShapeResult]:
    """The new backbone with ``out_indices`` chosen so that its maps come at the strides the old one
    gave (its schema's table), or else at the strides the anchors were built for (the strides the neck,
    anchors and heads expect), with its outputs; unchanged when ``out_indices`` is set, the strides
    agree, or neither says. The stages come from the table; the chosen outputs from the table where it
    applies, else probed (ConvNeXt with its feature-map arguments). The choice is said in ``facts``.
    Where the old backbone's table cannot say (a dilated ResNet), its strides are probed only to say,
    in ``notes``, that the deepest maps come coarser now: its heads resize what they get."""
    from otxgen.facts.consumers import fed_strides
    from otxgen.schema.table import ChannelTable
    from otxgen.shapes import ProbeError, probe_outputs, static_outputs

    old_strides = ChannelTable.for_config(old, library, catalog).strides() or fed_strides(host)
    new_strides = [o.stride for o in outputs.outputs]
    if old_strides is None and "out_indices" not in backbone:
        _say_a_coarser_output(old, new_strides, library, catalog, notes)
    if "out_indices" in backbone or old_strides in (None, new_strides):
        return backbone, outputs
    assert old_strides is not None
    stages = [row.get("stride") for row in ChannelTable(schema).stages(backbone) or []]
    indices = _stage_indices(old_strides, stages, exact=library != "mmseg")
    if indices is None:
        return backbone, outputs
    adjusted = {**backbone, "out_indices": indices}
    repeats = len(set(indices)) < len(indices)  # a table cannot say whether a backbone gives a stage twice
    try:
        static = outputs.tier == "static" and not repeats
        result = static_outputs(adjusted, schema) if static else probe_outputs(adjusted, tier="probe")
    except ProbeError:
        return backbone, outputs
    if result is None or not result.is_dense or len(result.outputs) != len(indices):  # ResNet gives it once
        return backbone, outputs
    got = [o.stride for o in result.outputs]
    wanted = ", ".join(map(str, old_strides))
    if got == old_strides:
        facts.append(f"out_indices={indices} keeps the strides its neck expects ({wanted})")
    else:
        facts.append(
            f"out_indices={indices}: strides {', '.join(map(str, got))} for the {wanted} its heads were built for"
        )
    return adjusted, result


def _say_a_coarser_output(
    old: dict[str, Any], new_strides: list[int | None], library: str | None, catalog: Catalog, notes: list[str]
) -> None:
    probed = _probed(old, library, catalog)
    deepest = new_strides[-1] if new_strides else None
    if probed and isinstance(deepest, int) and probed[-1] < deepest:
        notes.append(
            f"the old {old.get('type')} gave its deepest maps at stride {probed[-1]} (dilated), the new backbone "
            f"at {deepest}: the heads get {deepest // probed[-1]}x coarser maps; set the new backbone's own "
            "dilation or output-stride arguments to keep them finer"
        )


def _probed(old: dict[str, Any], library: str | None, catalog: Catalog) -> list[int] | None:
    """The old backbone's output strides from a probe, where its table cannot say (arguments that move
    strides: a dilated ResNet's ``strides``/``dilations`` give 4, 8, 8, 8); None when it does not build."""
    from otxgen.schema.resolve import resolve_type
    from otxgen.shapes import ProbeError, probe_outputs

    resolved = resolve_type(str(old.get("type", "")), library, catalog).type
    if resolved is None:
        return None
    args = {k: v for k, v in old.items() if k not in ("init_cfg", "pretrained", "_delete_")}
    try:
        result = probe_outputs({**args, "type": resolved})
    except ProbeError:
        return None
    strides = [o.stride for o in result.outputs]
    return [int(s) for s in strides if isinstance(s, int)] if result.is_dense else None


def _stage_indices(old: list[int], stages: list[Any], exact: bool) -> tuple[int, ...] | None:
    """For each old stride, the deepest new stage at that stride (what a pyramid's level at that stride
    is taken from); a detector's anchors need exactly those strides. A segmentor's heads resize their
    inputs, so an old stride the new backbone lacks takes the first stage below the next old level's
    (a dilated MobileNetV3's 2, 4, 8 becomes 4, 4, 8: the deepest level, where LR-ASPP's fixed window
    pools, keeps its stride; only where the backbone gives a stage asked for twice twice, which the
    caller probes). None when that cannot be done."""
    if sorted(old) != old or not stages or not all(isinstance(s, int) for s in stages):
        return None
    if len(old) > 1 and len(set(old)) == 1:  # a ViT's single stride: not a pyramid to keep (see the refusal)
        return None
    if all(s in stages for s in old):
        return tuple(len(stages) - 1 - stages[::-1].index(s) for s in old)
    if exact or old[-1] not in stages:
        return None
    deepest = len(stages) - 1 - stages[::-1].index(old[-1])
    indices = [min((i for i, s in enumerate(stages) if s >= stride), default=deepest) for stride in old[:-1]]
    picked = [min(i, deepest) for i in indices] + [deepest]
    return tuple(picked) if picked == sorted(picked) else None
