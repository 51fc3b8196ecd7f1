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
    anchors and heads expect), with its outputs; unchanged when ``out_indices`` is set (a ``[!]`` line
    where a segmentor's neck or heads expect other strides than they give), the strides
    agree, or neither says. A segmentor's heads resize what they read: where the old backbone's table
    cannot say (mmseg's HRNet, a dilated ResNet), its strides are probed, and a new backbone that gives
    fewer levels than it did (ConvNeXt's last stage alone) is given its levels; where no stage gives an
    old stride, as many are taken at that stride or coarser (a dilated ResNet's 4, 8, 8, 8 becomes 4, 8,
    16, 32), said in ``notes`` with the coarser deepest maps. The stages come from the
    table; the chosen outputs from the table where it applies, else probed (ConvNeXt with its
    feature-map arguments). The choice is said in ``facts``. A head that pools a fixed window over its
    last level (LR-ASPP) must get it no coarser than the old backbone gave it (``ConsumerError``)."""
    from otxgen.facts.consumers import fed_strides
    from otxgen.schema.table import ChannelTable

    exact = library != "mmseg"  # a detector's anchors need exactly their strides
    old_strides = ChannelTable.for_config(old, library, catalog).strides() or fed_strides(host)
    new_strides = [o.stride for o in outputs.outputs]
    probed = _probed(old, library, catalog) if old_strides is None and not exact else None
    fewer = probed is not None and len(new_strides) < len(probed)  # its heads read levels it does not give
    wanted = old_strides or (probed if fewer else None)
    chosen = backbone, outputs
    readers = "neck expects" if host.get("neck") is not None else "heads expect"
    if "out_indices" in backbone and wanted not in (None, new_strides) and not exact:
        notes.append(
            f"out_indices={_spelled(backbone['out_indices'])} give strides {_listed(new_strides)}, and the {readers} "
            f"{_listed(wanted or [])}: the heads resize what they read, so the model runs, at other resolutions "
            "than the config was sized for"
        )
    if "out_indices" not in backbone and wanted not in (None, new_strides):
        chosen = _choosing(backbone, schema, outputs, wanted or [], exact, facts, readers)
        coarser = (
            probed is not None and max((s for s in new_strides if s is not None), default=0) > probed[-1]
        )  # said below
        if chosen[0] is backbone and not (exact or coarser):
            _say_other_strides(backbone, schema, wanted or [], chosen[1], readers, notes)
    if probed is not None and "out_indices" not in backbone:
        _say_a_coarser_output(old.get("type"), probed, [o.stride for o in chosen[1].outputs], notes)
    _hold_windows(host, old_strides or probed or _probed(old, library, catalog), chosen[1])
    return chosen


def reindexed(
    old: dict[str, Any],
    backbone: dict[str, Any],
    requested: dict[str, Any],
    schema: dict[str, Any],
    exact: bool,
    facts: list[str],
    notes: list[str],
) -> dict[str, Any]:
    """A backbone of the old one's type whose new arguments give other stages (MobileNetV3 ``arch='large'``
    for ``'small'``, a ViT given 24 blocks for 12), with the ``out_indices`` the config set for the old
    stages, which index other stages now: the new stages at the strides the old indices gave (the deepest
    at each, as for another type: small's 0, 1, 12 are large's 1, 3, 16), or, for a single-stride
    backbone, the blocks at the same relative depths (3, 5, 7, 11 of 12: 7, 11, 15, 23 of 24, as mmseg's
    BEiT-L has them). Negative indices count from the end, which is where they still point. Unchanged
    where the indices are the user's or the stages' strides are the same; a ``[!]`` note where no stage
    list gives the old strides."""
    from otxgen.schema.table import ChannelTable, normalised_indices

    raw = old.get("out_indices")
    if "out_indices" in requested or raw is None:
        return backbone
    table = ChannelTable(schema)
    before, after = table.stages(old), table.stages(backbone)
    if not before or not after or [r.get("stride") for r in before] == [r.get("stride") for r in after]:
        return backbone
    indices = normalised_indices(raw, len(before))
    if indices is None:
        return backbone
    kept = [isinstance(i, int) and i < 0 for i in ([raw] if isinstance(raw, int) else raw)]
    if not all(isinstance(row.get("stride"), int) for row in [*before, *after]):
        return backbone
    old_strides = [int(before[i]["stride"]) for i in indices]
    new_strides = [int(row["stride"]) for row in after]
    if len(set(old_strides)) == 1 and len(set(new_strides)) == 1:  # blocks of one stride: the same depths
        chosen: tuple[int, ...] | None = tuple(max(0, round((i + 1) * len(after) / len(before)) - 1) for i in indices)
        how = f"the blocks at the same depths of {len(after)} as the old {_spelled(raw)} of {len(before)}"
    else:
        chosen = _stage_indices(old_strides, new_strides, exact)
        how = f"the stages at the strides ({', '.join(map(str, old_strides))}) the old {_spelled(raw)} gave"
    if chosen is None or len(set(chosen)) < len(chosen):
        now = normalised_indices(raw, len(after))
        gives = f"give strides {', '.join(str(new_strides[i]) for i in now)}" if now else f"do not fit {len(after)}"
        notes.append(
            f"out_indices={_spelled(raw)} were set for the old arguments' {len(before)} stages (strides "
            f"{', '.join(map(str, old_strides))}); they {gives} of these; set out_indices"
        )
        return backbone
    listed = [raw] if isinstance(raw, int) else list(raw)
    written = [r if negative else j for j, negative, r in zip(chosen, kept, listed, strict=True)]
    value: Any = written[0] if isinstance(raw, int) else type(raw)(written)
    if value == raw:
        return backbone
    facts.append(f"out_indices={_spelled(value)}: {how}")
    return {**backbone, "out_indices": value}


def _spelled(indices: Any) -> str:
    return str(tuple(indices)) if isinstance(indices, (list, tuple)) else str(indices)


def _hold_windows(host: dict[str, Any], old: list[int] | None, outputs: ShapeResult) -> None:
    """``ConsumerError`` where a head pools its fixed window over a level that the new backbone gives at
    a coarser stride than the old one did: the images the config feeds were sized for the old stride
    (a crop of 512 x 1024 fills LR-ASPP's window of 49 at stride 8, not at 16), and fill fewer cells now."""
    from otxgen.facts.consumers import ConsumerError, pooling_windows

    before = {window.path: window for window in pooling_windows(host, old or [])}
    for window in pooling_windows(host, [o.stride for o in outputs.outputs]):
        was = before.get(window.path)
        if was is None or window.stride <= was.stride:
            continue
        raise ConsumerError(
            window.path,
            f"{window.head} average-pools a {window.cells}-cell window over the last level it reads, which the new"
            f" backbone gives at stride {window.stride}: images of at least {window.least_side} px, where the config"
            f" was built for stride {was.stride} ({was.least_side} px); choose out_indices (or a backbone, or its"
            f" dilation arguments) whose last level read comes at stride {was.stride} or finer",
        )


def _choosing(
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    old_strides: list[int],
    exact: bool,
    facts: list[str],
    readers: str,
) -> tuple[dict[str, Any], ShapeResult]:
    from otxgen.schema.table import ChannelTable

    stages = [row.get("stride") for row in ChannelTable(schema).stages(backbone) or []]
    choices = [_stage_indices(old_strides, stages, exact)] + ([] if exact else [_coarser_stages(old_strides, stages)])
    for indices in dict.fromkeys(c for c in choices if c is not None):
        result = _outputs_at(backbone, indices, schema, outputs)
        if result is None:
            continue
        if _rows(result) == _rows(outputs):  # what it gives unasked: nothing to write
            return backbone, outputs
        got = [o.stride for o in result.outputs]
        wanted = ", ".join(map(str, old_strides))
        if got == old_strides:
            facts.append(f"out_indices={indices} keeps the strides its {readers} ({wanted})")
        else:
            facts.append(
                f"out_indices={indices}: strides {', '.join(map(str, got))} for the {wanted} its heads were built for"
            )
        return {**backbone, "out_indices": indices}, result
    return backbone, outputs


def _outputs_at(
    backbone: dict[str, Any], indices: tuple[int, ...], schema: dict[str, Any], outputs: ShapeResult
) -> ShapeResult | None:
    """The backbone's maps with ``out_indices=indices``, one per index (a stage asked for twice is
    probed: a table cannot say whether the backbone gives it twice, and mmdet's ResNet gives it once);
    None where it does not give them."""
    from otxgen.shapes import ProbeError, probe_outputs, static_outputs

    adjusted = {**backbone, "out_indices": indices}
    repeats = len(set(indices)) < len(indices)
    try:
        static = outputs.tier == "static" and not repeats
        result = static_outputs(adjusted, schema) if static else probe_outputs(adjusted, tier="probe")
    except ProbeError:
        return None
    if result is None or not result.is_dense or len(result.outputs) != len(indices):
        return None
    return result


def _say_other_strides(
    backbone: dict[str, Any],
    schema: dict[str, Any],
    wanted: list[int],
    outputs: ShapeResult,
    readers: str,
    notes: list[str],
) -> None:
    """A ``[!]`` line where no stages of the new backbone come at the strides the segmentor's neck or heads
    were built for, and its own choice of outputs is kept: they resize what they read, so the model runs,
    at other resolutions than the config was sized for (a dilated MobileNetV3's 2, 4, 8 into an FPN built
    for 4, 8, 16, 32)."""
    from otxgen.schema.table import ChannelTable

    got = [o.stride for o in outputs.outputs]
    rows = ChannelTable(schema).stages(backbone) or []
    stages = sorted({row["stride"] for row in rows if isinstance(row.get("stride"), int)})
    if got == wanted or len(stages) < 2:  # stages of one stride (a ViT): a pyramid's business (``with_a_pyramid``)
        return
    missing = [stride for stride in dict.fromkeys(wanted) if stride not in stages]
    name = backbone.get("type")
    why = f"{name} has no stage at {_listed(missing)}" if missing else "no stages are chosen for them out of order"
    notes.append(
        f"the {readers} strides {_listed(wanted)}, and {why}: {name}'s own outputs are kept, at strides "
        f"{_listed(got)} (its stages come at strides {_listed(stages)}); the heads resize what they read, so the "
        "model runs, at other resolutions than the config was sized for; set out_indices to choose other stages"
    )


def _listed(strides: list[Any]) -> str:
    return ", ".join(map(str, strides))


def _say_a_coarser_output(old_type: object, probed: list[int], new_strides: list[int | None], notes: list[str]) -> None:
    deepest = new_strides[-1] if new_strides else None
    if probed and isinstance(deepest, int) and probed[-1] < deepest:
        notes.append(
            f"the old {old_type} gave its deepest maps at stride {probed[-1]} (dilated), the new backbone "
            f"at {deepest}: the heads get {deepest // probed[-1]}x coarser maps; set the new backbone's own "
            "dilation or output-stride arguments, where it has them, to keep them finer"
        )


def strides_before(
    host: dict[str, Any], old: dict[str, Any], library: str | None, catalog: Catalog
) -> list[int] | None:
    """The strides the old backbone gave its levels at: its table's, else the ones the anchors were built
    for, else probed (a dilated ResNet, whose table cannot say)."""
    from otxgen.facts.consumers import fed_strides
    from otxgen.schema.table import ChannelTable

    table = ChannelTable.for_config(old, library, catalog).strides()
    return table or fed_strides(host) or _probed(old, library, catalog)


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
    pools, keeps its stride; kept only where the backbone gives such a stage twice, which the caller
    probes). None when that cannot be done."""
    if sorted(old) != old or not stages or not all(isinstance(s, int) for s in stages):
        return None
    if len(old) > 1 and len(set(old)) == 1:  # a ViT's single stride: not a pyramid to keep (see the refusal)
        return None
    if all(s in stages for s in old):
        return tuple(len(stages) - 1 - stages[::-1].index(s) for s in old)
    if exact or old[-1] not in stages:
        return None
    deepest = len(stages) - 1 - stages[::-1].index(old[-1])
    picked: list[int] = []
    for stride in old[:-1]:  # the finest stage at that stride or coarser, in stage order, up to the deepest
        after = picked[-1] if picked else 0
        index = _finest(stages, stride, range(after, deepest + 1))
        if index is None:
            return None
        picked.append(index)
    return (*picked, deepest)


def _coarser_stages(old: list[int], stages: list[Any]) -> tuple[int, ...] | None:
    """For a segmentor, as many stages as the old levels, each the next one at the old level's stride or
    coarser (a dilated ResNet's 4, 8, 8, 8 from ConvNeXt: 4, 8, 16, 32); None when there are too few."""
    if not stages or not all(isinstance(s, int) for s in stages) or len(set(old)) == 1 or len(set(stages)) == 1:
        return None  # a ViT's single stride: the pyramid's business (with_a_pyramid), not levels to pick
    picked: list[int] = []
    for stride in old:
        after = picked[-1] + 1 if picked else 0
        index = _finest(stages, stride, range(after, len(stages)))
        if index is None:
            return None
        picked.append(index)
    return _deepest_at_their_strides(old, stages, picked)


def _deepest_at_their_strides(old: list[int], stages: list[int], picked: list[int]) -> tuple[int, ...]:
    """``picked`` with each run of levels that landed at their old stride moved to the deepest stages at
    it, before the next level's: a dilated MobileNetV3 gives 13 stages at stride 8, and ANN's 8, 8, 8
    takes the last three (the first three left most of the network unread)."""
    result = list(picked)
    start = 0
    while start < len(old):
        end = start
        while end + 1 < len(old) and old[end + 1] == old[start]:
            end += 1
        count, stride = end - start + 1, old[start]
        if all(stages[result[k]] == stride for k in range(start, end + 1)):
            limit = result[end + 1] if end + 1 < len(old) else len(stages)
            at = [i for i in range(result[start], limit) if stages[i] == stride]
            result[start : end + 1] = at[-count:]
        start = end + 1
    return tuple(result)


def _finest(stages: list[int], stride: int, among: range) -> int | None:
    """The stage among ``among`` at ``stride`` or the least coarser one (the first of them); BiSeNetV2's
    stages are not in order of stride (8, 4, 8, 16, 32)."""
    fitting = [i for i in among if stages[i] >= stride]
    return min(fitting, key=lambda i: (stages[i], i)) if fitting else None


def _rows(result: ShapeResult) -> list[tuple[int | None, int | None]]:
    return [(o.channels, o.stride) for o in result.outputs]
