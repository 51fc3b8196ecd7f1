"""Measure a backbone's channel/stride table (the ``x-otxgen.channels`` block) with the shape probe.

For each arch/depth option (options sharing one arch setting are probed once):

* ``defaults``: the outputs at default settings (may be pooled ``(N, C)`` vectors: ndim 2, stride null);
* ``container``: the form the forward returns them in at default settings (``tuple``, ``list`` or
  ``tensor``: consumers take some forms only);
* ``table``: every stage's 4-D output (channels, stride), index = out_index, probed with
  ``out_indices`` set to all stages. Backbones that pool by default get the smallest set of
  ``dense_args`` that yields feature maps (``out_type='featmap'``, ``gap_before_final_norm=False``),
  recorded so the static tier knows the table assumes them.

``shape_args`` rule (conservative): every argument except the arch/depth key, ``out_indices`` and a
short list of arguments that cannot change output channels or strides (initialisation, freezing,
normalisation and activation configs, checkpointing, dropout rates, weights). Setting any shape
argument to a non-default value makes the static tier step aside for the probe.
"""

from __future__ import annotations

from typing import Any

from otxgen.facts.arguments import NEUTRAL_ARGS
from otxgen.libraries import DENSE_TASKS, TASKS
from otxgen.shapes import ProbeError, ShapeResult, probe_outputs

_DENSE_VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"out_type": "featmap"},
    {"gap_before_final_norm": False},
)
_STAGE_ATTRIBUTES = ("num_stages", "num_layers", "stages", "layers", "res_layers", "blocks", "network")


def measure(
    backbone_type: str, params: dict[str, Any], key: str | None, options: list[Any], table_values: dict[Any, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """``(channels block or None, tasks)`` for one backbone; ``params`` maps argument name -> default."""
    probed: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]] | None]] = {}
    dense_args: dict[str, Any] | None = None
    container: str | None = None
    selects = True
    seen: dict[str, str] = {}
    for option in options or [None]:
        label = "default" if key is None else str(option)
        same_as = seen.get(repr(table_values.get(option)) if key else "")
        if same_as is not None:
            probed[label] = probed[same_as]
            continue
        cfg = {"type": backbone_type, **({key: option} if key else {})}
        result = _measure_option(cfg, params, dense_args)
        if result is None:
            continue
        defaults, table, dense_args, selected, form = result
        selects = selects and selected
        container = container or form
        probed[label] = (defaults, table)
        if key:
            seen[repr(table_values.get(option))] = label
    if not probed:
        return None, list(TASKS)
    dense = any(table is not None for _, table in probed.values())
    tasks = list(TASKS) if dense else [t for t in TASKS if t not in DENSE_TASKS]
    if not dense:
        return None, tasks
    return _block(key, params, probed, dense_args or {}, selects) | {"container": container}, tasks


def _block(
    key: str | None, params: dict[str, Any], probed: dict[str, Any], dense_args: dict[str, Any], selects: bool
) -> dict[str, Any]:
    tables = {label: table for label, (_, table) in probed.items() if table is not None}
    ignored = {} if selects else {"out_indices_ignored": True}  # the table is what it gives, whatever they say
    return ignored | {
        "key": key,
        "default_out_indices": as_written(params.get("out_indices")),
        "shape_args": sorted(n for n in params if n not in NEUTRAL_ARGS and n not in {key, "out_indices"}),
        "dense_args": dense_args,
        "defaults": {label: defaults for label, (defaults, table) in probed.items() if table is not None},
        "table": tables,
    }


def as_written(out_indices: Any) -> list[int] | None:
    """The signature's default ``out_indices`` as it counts (-1: each arch's last stage; None: all of them)."""
    if out_indices is None:
        return None
    return [out_indices] if isinstance(out_indices, int) else list(out_indices)


Measured = tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any], bool, str | None]
"""An option's default rows, stage table (None: no feature maps), dense arguments, whether ``out_indices``
selects the outputs, and the container of the default outputs."""


def _measure_option(cfg: dict[str, Any], params: dict[str, Any], dense_args: dict[str, Any] | None) -> Measured | None:
    try:
        defaults = probe_outputs(cfg, tier="probe")
    except ProbeError:
        return None
    default_rows = [_row(o.channels, o.stride, o.ndim) for o in defaults.outputs]
    form = defaults.container
    if "out_indices" not in params:  # its outputs as they are, or as an argument gives them as maps
        return _without_selection(cfg, params, defaults, dense_args, default_rows, form)
    variants = [dense_args] if dense_args is not None else [v for v in _DENSE_VARIANTS if set(v) <= set(params)]
    for variant in variants:
        reach = _reach(params.get("out_indices"))
        table = _all_stages(cfg | variant, _stage_counts(cfg, params, defaults), reach)
        if table is not None:
            if reach >= len(table) and not _selects(cfg | variant, table):  # what it gives whatever they say
                return default_rows, [_row(o.channels, o.stride) for o in defaults.outputs], {}, False, form
            return default_rows, table, variant, True, form
    return default_rows, None, {}, True, form


def _without_selection(
    cfg: dict[str, Any],
    params: dict[str, Any],
    defaults: ShapeResult,
    dense_args: dict[str, Any] | None,
    default_rows: list[dict[str, Any]],
    form: str | None,
) -> Measured:
    """A backbone without ``out_indices``: its default outputs where they are maps, else those of the
    first dense variant it takes (RevViT's ``out_type='featmap'``)."""
    if defaults.is_dense:
        return default_rows, [_row(o.channels, o.stride) for o in defaults.outputs], {}, True, form
    variants = [dense_args] if dense_args is not None else [v for v in _DENSE_VARIANTS if v and set(v) <= set(params)]
    for variant in variants:
        try:
            result = probe_outputs(cfg | variant, tier="probe")
        except ProbeError:
            continue
        if result.is_dense:
            return default_rows, [_row(o.channels, o.stride) for o in result.outputs], variant, True, form
    return default_rows, None, {}, True, form


def _row(channels: int | None, stride: int | None, ndim: int | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"channels": channels, "stride": stride}
    return row if ndim is None else row | {"ndim": ndim}


def _reach(out_indices: Any) -> int:
    """The largest stage index the default ``out_indices`` name (-1 when they name none)."""
    raw = (
        [out_indices] if isinstance(out_indices, int) else out_indices if isinstance(out_indices, (list, tuple)) else []
    )
    return max((i for i in raw if isinstance(i, int) and not isinstance(i, bool)), default=-1)


def _all_stages(cfg: dict[str, Any], counts: list[int], reach: int) -> list[dict[str, Any]] | None:
    """Every stage, probed with ``out_indices`` over all of them. A stage attribute may undercount the
    stages ``out_indices`` reaches (Darknet's ``layers`` leaves out its stem, while its default
    ``out_indices`` name stage 5): where the defaults reach past the count, the count they need is
    tried, and counts only when it adds deeper stages (a backbone that wraps indices around gives
    nothing new)."""
    for count in counts:
        rows = _stages(cfg, count)
        if rows is None:
            continue
        if reach < len(rows):
            return rows
        more = _stages(cfg, reach + 1)
        return more if more is not None and _deeper(more[len(rows) :], rows) else rows
    return None


def _deeper(added: list[dict[str, Any]], rows: list[dict[str, Any]]) -> bool:
    """Stages past ``rows``: each at a stride no smaller than every one of theirs, the last greater."""
    strides = [r.get("stride") for r in rows]
    if not added or not all(isinstance(s, int) for s in strides):
        return False
    new = [r.get("stride") for r in added]
    top = max(s for s in strides if isinstance(s, int))
    return all(isinstance(s, int) and s >= top for s in new) and isinstance(new[-1], int) and new[-1] > top


def _stages(cfg: dict[str, Any], count: int) -> list[dict[str, Any]] | None:
    try:
        result = probe_outputs(cfg | {"out_indices": tuple(range(count))}, tier="probe")
    except ProbeError:
        return None
    if len(result.outputs) != count or not result.is_dense:
        return None
    return [_row(o.channels, o.stride) for o in result.outputs]


def _selects(cfg: dict[str, Any], table: list[dict[str, Any]]) -> bool:
    """Whether ``out_indices`` chooses the outputs: one index must give one map (SSDVGG ignores it and
    gives its ``out_feature_indices`` maps whatever it says)."""
    return len(table) == 1 or _stages_at(cfg, (len(table) - 1,)) == [table[-1]]


def _stages_at(cfg: dict[str, Any], indices: tuple[int, ...]) -> list[dict[str, Any]] | None:
    try:
        result = probe_outputs(cfg | {"out_indices": indices}, tier="probe")
    except ProbeError:
        return None
    return [_row(o.channels, o.stride) for o in result.outputs]


def _stage_counts(cfg: dict[str, Any], params: dict[str, Any], defaults: ShapeResult) -> list[int]:
    """Candidate stage counts, most likely first: ``num_stages``, the model's stage attributes, then
    the default output count."""
    counts = []
    if isinstance(params.get("num_stages"), int):
        counts.append(params["num_stages"])
    counts += _model_stage_counts(cfg)
    counts.append(len(defaults.outputs))
    unique = []
    for count in counts:
        if count > 0 and count not in unique:
            unique.append(count)
    return unique


def _model_stage_counts(cfg: dict[str, Any]) -> list[int]:
    from otxgen.shapes import build_backbone

    for construct in ("meta", "hybrid"):
        try:
            model = build_backbone(cfg, construct)
            break
        except Exception:  # noqa: BLE001 - construction quirks: no attribute-based guess then
            continue
    else:
        return []
    plan = getattr(model, "plan", None)  # otxgen's StagedBackbone wrappers know their stages
    counts = [len(plan.strides)] if plan is not None and hasattr(plan, "strides") else []
    for name in _STAGE_ATTRIBUTES:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            counts.append(value)
        elif value is not None and hasattr(value, "__len__"):
            counts.append(len(value))
    return counts
