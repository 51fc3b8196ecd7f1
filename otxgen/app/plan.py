"""A swap is a plan, then a write: from the config's merged view (its ``_base_`` chain read statically),
the backbone to write, every consumer's new inputs, the old weights to remove and the ``custom_imports``
the result needs, each with the ``[!]`` line that says what changed and why. Reads, never executes.
What carries over: ``otxgen.app.carry``; the strides kept: ``otxgen.app.strides``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from otxgen.app.carry import changes, misfits, new_backbone
from otxgen.app.pyramid import with_a_pyramid, without_a_rescaler
from otxgen.app.sizes import Padding, sized
from otxgen.app.strides import keeping_strides, reindexed
from otxgen.errors import ArgumentError, InputError
from otxgen.facts.inputs import PAD_DIVISOR_KEY, batch_sides, input_sides, pad_divisor
from otxgen.facts.libraries import LIBRARY_TASKS, REGISTERING_MODULES, canonical_library
from otxgen.facts.optimizers import DECAY_KEYS, DEFAULT_CONSTRUCTOR, default_constructor, optimizer_misfit
from otxgen.facts.values import same_value

if TYPE_CHECKING:
    from otxgen.app.weights import Weights
    from otxgen.config.model_config import ConfigFacts
    from otxgen.facts.consumers import Strides
    from otxgen.schema.resolve import Catalog
    from otxgen.shapes import ShapeResult


@dataclass(frozen=True)
class SwapPlan:
    backbone: dict[str, Any] | None  # as the config should spell it; None: same type, merged in ``overrides``
    backbone_inherited: bool  # the ``_base_`` chain defines the backbone: ``_delete_`` it
    outputs: ShapeResult
    overrides: dict[str, Any] = field(default_factory=dict)  # top-level names, mmengine merge semantics
    imports: list[str] | None = None  # the whole ``custom_imports`` list, None when it stays as it is
    notes: tuple[str, ...] = ()  # ``[!]`` lines
    facts: tuple[str, ...] = ()  # ``[*]`` lines (the normalisation set for the new weights)
    # an emptied ``custom_imports`` of the form otxgen writes may go: no base lists imports it would revive
    drop_empty_imports: bool = True
    # the config's own values of the arguments otxgen gave a starting value (``filled``): a swap to its type keeps them
    kept: dict[str, Any] = field(default_factory=dict)


class _RefusalError(Exception):
    """The config cannot be swapped statically; ``path`` places the cause in the merged view."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def plan_swap(
    merged: ConfigFacts,
    requested: dict[str, Any],
    schema: dict[str, Any],
    catalog: Catalog,
    target: str | None,
    weights: Weights | None = None,
    filled: frozenset[str] = frozenset(),
) -> SwapPlan:
    """The plan for one config (``merged``: read over its ``_base_`` chain), pure: its lines are values
    (``notes``, ``facts``), refusals are ``InputError`` at the position of their cause, with a way
    forward. ``weights``: the new backbone's checkpoint. ``filled``: the arguments of ``requested`` that
    otxgen gave their starting value (a required ``depth``), not the user: in a swap to the type the
    config has, the config's own value stays."""
    try:
        plan, weights = _plan(merged, requested, schema, catalog, _target_path(target), weights, filled)
    except _RefusalError as refusal:
        located = merged.names
        if not any(refusal.path[:end] in located.values for end in range(1, len(refusal.path) + 1)):
            raise InputError(refusal.message, merged.file) from None
        where = located.where(refusal.path)
        raise InputError(refusal.message, where.file, where.line, where.col) from None
    if weights is not None and weights.checkpoint is None:
        plan = _unnormalised(plan, merged, _target_path(target), weights, catalog)
    else:
        plan = _normalised(plan, merged, _target_path(target)[0], weights)
    inherited = merged.inherited
    return replace(plan, overrides=_delete_over_non_dicts(plan.overrides, inherited.value if inherited else None))


def _unnormalised(
    plan: SwapPlan, merged: ConfigFacts, where: tuple[tuple[str, ...], str], weights: Weights, catalog: Catalog
) -> SwapPlan:
    """New weights of no known normalisation (``--weights none``, a file): a preprocessor set to what
    the OLD backbone's published checkpoint was trained with loses that reason with it, and goes back
    to what the ``_base_`` chain gives (a swap back then gives the file back). A preprocessor that says
    anything else is the user's choice and stays."""
    from otxgen.app.weights import normalisation
    from otxgen.validate.backbones import infer_library

    old = _old_published(merged, where, catalog)
    inherited = merged.inherited
    if old is None or inherited is None:
        return plan
    host_path = where[0]
    current, own = _preprocessor(merged.names.value, host_path)
    base, _ = _preprocessor(inherited.value, host_path)
    library = infer_library(merged, merged.get("model") or {}, from_imports=False)
    if current is None or base is None or normalisation(old, current, library)[0]:
        return plan
    keys: list[str] = [key for key in ("mean", "std", "bgr_to_rgb", "to_rgb") if key in base or key in current]
    back = {key: base[key] for key in keys if key in base and not same_value(base[key], current.get(key))}
    if not back:
        return plan
    lines = [
        f"data_preprocessor.{key}={value!r} (was {current.get(key)!r}): the base's again; the old weights "
        f"({old.name}) set it, and the new backbone does not load them"
        for key, value in back.items()
    ]
    return replace(
        plan, overrides=_with_preprocessor(plan.overrides, host_path, own, back), facts=(*plan.facts, *lines)
    )


def _old_published(merged: ConfigFacts, where: tuple[tuple[str, ...], str], catalog: Catalog) -> Any:
    """The published checkpoint the config's current backbone loads (its ``init_cfg``, its or the
    model's ``pretrained``), from the catalog; None when it loads none the catalog knows."""
    from otxgen.facts.checkpoints import checkpoints
    from otxgen.schema.published import find
    from otxgen.schema.resolve import resolve_type
    from otxgen.validate.backbones import infer_library

    host_path, key = where
    host = _at(merged.names.value, host_path)
    old = host.get(key) if isinstance(host, dict) else None
    if not isinstance(old, dict):
        return None
    library = infer_library(merged, merged.get("model") or {}, from_imports=False)
    old_type = resolve_type(str(old.get("type", "")), library, catalog).type
    if old_type is None:
        return None
    addresses = [address for _, address, _ in checkpoints(old.get("init_cfg"))]
    addresses += [value for value in (old.get("pretrained"), host.get("pretrained")) if isinstance(value, str)]
    schema = catalog.schema(old_type)
    found = next((hit for hit in (find(schema, address) for address in addresses) if hit is not None), None)
    return found[1] if found is not None else None


def _preprocessor(names: dict[str, Any], host_path: tuple[str, ...]) -> tuple[dict[str, Any] | None, bool]:
    """The data preprocessor a model uses (its own, else the config's top-level one), and whether it
    is the model's own."""
    model = _at(names, host_path)
    own = model.get("data_preprocessor") if isinstance(model, dict) else None
    top = names.get("data_preprocessor")
    return (own, True) if isinstance(own, dict) else (top if isinstance(top, dict) else None, False)


def _with_preprocessor(
    overrides: dict[str, Any], host_path: tuple[str, ...], own: bool, changes: dict[str, Any]
) -> dict[str, Any]:
    """``overrides`` with ``changes`` merged into the model's own preprocessor, or the top-level one."""
    overrides = dict(overrides)
    if own:
        overrides[host_path[0]] = _merged_dicts(
            overrides.get(host_path[0]) or {}, _nested((*host_path[1:], "data_preprocessor"), changes)
        )
    else:
        overrides["data_preprocessor"] = _merged_dicts(overrides.get("data_preprocessor") or {}, changes)
    return overrides


def _padded(
    overrides: dict[str, Any],
    merged: ConfigFacts,
    host_path: tuple[str, ...],
    backbone_type: str,
    divisors: tuple[int | None, int],
    facts: list[str],
) -> dict[str, Any]:
    """``overrides`` with the detector's preprocessor padding to ``divisors[1]``, the multiple the new
    backbone runs on (its window at its deepest stride), said in a line."""
    was, padded = divisors
    current, own = _preprocessor(merged.names.value, host_path)
    if current is None:
        why = (
            f"{backbone_type} runs only on sides that are multiples of {padded}, and the model has no data_preprocessor"
        )
        raise _RefusalError(host_path, f"{why} to pad its images to them: give it one with {PAD_DIVISOR_KEY}={padded}")
    facts.append(
        f"data_preprocessor.{PAD_DIVISOR_KEY}={padded} (was {was}): {backbone_type} runs only on sides that are "
        f"multiples of {padded} (a window at its deepest stride); the images are padded to them"
    )
    return _with_preprocessor(overrides, host_path, own, {PAD_DIVISOR_KEY: padded})


def _normalised(plan: SwapPlan, merged: ConfigFacts, host_path: tuple[str, ...], weights: Weights | None) -> SwapPlan:
    """The plan with the data preprocessor set to what the new checkpoint was trained with: the model's
    own preprocessor, else the config's top-level one (mmengine's runner hands it to the model)."""
    from otxgen.app.weights import normalisation
    from otxgen.validate.backbones import infer_library

    if weights is None or weights.checkpoint is None:
        return plan
    current, own = _preprocessor(merged.names.value, host_path)
    if current is None:
        expected = f"mean {list(weights.checkpoint.mean or ())}, std {list(weights.checkpoint.std or ())}"
        note = f"no data_preprocessor to set: {weights.checkpoint.name} expects {expected}"
        return replace(plan, notes=(*plan.notes, note))
    library = infer_library(merged, merged.get("model") or {}, from_imports=False)
    changes, lines = normalisation(weights.checkpoint, current, library)
    if not changes:
        return plan
    overrides = _with_preprocessor(plan.overrides, host_path, own, changes)
    return replace(plan, overrides=overrides, facts=(*plan.facts, *lines))


def _merged_dicts(into: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(into)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged_dicts(merged[key], value) if both else value
    return merged


def _plan(
    merged: ConfigFacts,
    requested: dict[str, Any],
    schema: dict[str, Any],
    catalog: Catalog,
    where: tuple[tuple[str, ...], str],
    weights: Weights | None,
    filled: frozenset[str],
) -> tuple[SwapPlan, Weights | None]:
    from otxgen.facts.consumers import (
        NESTED_READING_HEADS,
        ConsumerError,
        consumer_overrides,
        feature_neck,
        first_of,
        known_as,
        paired_head,
        type_name,
    )
    from otxgen.schema.resolve import resolve_type
    from otxgen.validate.backbones import infer_library

    _refuse_opaque(merged)
    host_path, key = where
    host = _host(merged, host_path, key)
    old = host[key]
    library = infer_library(merged, merged.get("model") or {}, from_imports=False)
    task = LIBRARY_TASKS.get(library or "", "detection")
    notes: list[str] = []
    facts: list[str] = []
    old_type = resolve_type(old["type"], library, catalog).type
    if "backbone" not in key and old_type is None:
        message = f"{'.'.join((*host_path, key))} is a {old['type']}, not a backbone: --target names the backbone"
        raise _RefusalError((*host_path, key, "type"), message)
    same_type = old_type == requested["type"]
    own = {k: old[k] for k in requested if same_type and k in filled and k in old}
    requested = {k: v for k, v in requested.items() if k not in own}
    weights, keeps_weights = _weights_here(weights, old, requested, schema, same_type, facts, notes, host)
    requested = _with_weights(requested, weights, old if keeps_weights else {}, schema)
    old_schema = catalog.schema(old_type) if old_type is not None else None
    backbone = new_backbone(old, requested, schema, old_schema, same_type, notes)
    dropped = misfits(old, backbone, requested, schema, notes) if same_type else []
    if dropped:  # written whole (under ``_delete_``) without them: merging in place would keep them
        same_type, backbone = False, {k: v for k, v in backbone.items() if k not in dropped}
    if same_type:
        backbone = reindexed(old, backbone, requested, schema, library != "mmseg", facts, notes)
    wrapped = next((k for k, v in old.items() if isinstance(v, dict) and "backbone" in k and "type" in v), None)
    if wrapped is not None and not same_type:  # ICNet's neck reads its three outputs: no other backbone gives them
        message = (
            f"{'.'.join((*host_path, key))} is a {old['type']} that wraps another backbone ({wrapped}): the model's "
            "other parts are built for its outputs, so otxgen swaps it only for another of its type; start from a "
            "config with a plain backbone"
        )
        raise _RefusalError((*host_path, key, wrapped), message)
    if wrapped is not None:
        same_type = False  # written whole: its inner backbone (BiSeNet's backbone_cfg) merged would keep the old's keys
    sides = input_sides(merged.names.value)
    reads_nested = host.get("neck") is None and bool(known_as(host.get("head"), NESTED_READING_HEADS))
    side = sides[0] if sides else None
    # a classifier's neck that reads maps (HRNet's HRFuseScales), not the one a swap put in front of the pooling
    maps_reader = feature_neck(_overridden(host, _without_list_neck(host))) if task == "classification" else None
    backbone, outputs = _outputs(backbone, task, schema, notes, requested, side, reads_nested, maps_reader)
    necks: dict[str, Any] = {}
    divisor = pad_divisor(merged.names.value)
    try:
        padding = Padding(divisor, batch_sides(merged.names.value))
        backbone, outputs, padded = sized(backbone, outputs, task, schema, sides, notes, padding)
        if task != "classification":
            necks = without_a_rescaler(host, outputs, facts)
            necked = _overridden(host, necks)
            kept = {} if necks else old  # the next neck's strides, not those of the rescaler's single stride
            backbone, outputs = keeping_strides(necked, kept, backbone, schema, outputs, catalog, library, facts, notes)
            given = set(requested) - {"type", "init_cfg"}
            backbone, outputs, pyramid = with_a_pyramid(
                necked, old, backbone, schema, outputs, given, library, catalog, facts
            )
            necks = _merged_dicts(necks, pyramid)
        else:  # a list neck a swap put in front of the pooling neck goes; a list backbone gets it anew
            necks = _without_list_neck(host)
            if necks and outputs.container != "list":
                form = "one tensor" if outputs.container == "tensor" else f"a {outputs.container}"
                notes.append(f"removed neck {type_name(first_of(host['neck']))}: the new backbone returns {form}")
            given = set(requested) - {"type", "init_cfg"}
            if maps_reader is not None:  # a neck that fuses the old backbone's levels: at their strides
                backbone, outputs = keeping_strides(
                    host, old, backbone, schema, outputs, catalog, library, facts, notes
                )
                _refuse_unfused(maps_reader, old, outputs, library, catalog, (*host_path, "neck"))
            backbone, outputs = _deepest_alone(_overridden(host, necks), backbone, schema, outputs, given, facts)
        necked = _overridden(host, necks)
        _refuse_single_stride_into_pyramid(necked, outputs, host_path)
        paired = paired_head(host, requested["type"])
        if paired is not None:
            raise _RefusalError((*host_path, *paired[0]), paired[1])
        channels = [int(o.channels or 0) for o in outputs.outputs]
        strides = (
            _head_strides(necked, old, outputs, library, catalog) if task == "segmentation" and not necks else None
        )
        host_override = _merged_dicts(necks, consumer_overrides(necked, channels, strides=strides))
        _say_levels_at_strides(host, _overridden(host, host_override), strides, len(channels), facts, notes)
    except ConsumerError as error:
        raise _RefusalError((*host_path, *error.path), error.message) from None
    if task == "classification":
        classifier = _classifier_overrides(necked, outputs, channels, notes, library)
        if isinstance(classifier.get("neck"), dict) and isinstance(host_override.get("neck"), dict):
            classifier["neck"] = _merged_dicts(host_override["neck"], classifier["neck"])  # a list neck's removal
        host_override |= classifier
    _refuse_misfit_levels(_overridden(host, host_override), outputs, task, host_path)
    _refuse_misfit_container(_overridden(host, host_override), outputs, requested["type"], host_path, catalog)
    _refuse_ungrouped_widths(host, _overridden(host, host_override), host_override, library, host_path)
    written: dict[str, Any] | None = _spelled(backbone, schema, library, old)
    if same_type:  # what differs is merged into the config's own backbone: everything else stays
        host_override[key] = changes(old, written or {}, schema)
        written = None
    _refuse_lost_values(host_override, merged, host_path)
    _replacing_where_not_inherited(host_override, merged, host_path)
    overrides = _weights(merged, host, host_path, host_override, notes, keeps_weights)
    was = {k: v for k, v in old.items() if k not in ("_delete_", "init_cfg", "pretrained")} if old_type else None
    typed = {**{k: _tuple_lists(k, v) for k, v in backbone.items()}, "type": requested["type"]}  # as written
    overrides |= _optimizer(merged, typed, was and {**was, "type": old_type}, library, notes)
    if padded is not None:
        overrides = _padded(overrides, merged, host_path, requested["type"], (divisor, padded), facts)
    planned_host = _overridden(host, host_override)
    _say_switched_on(planned_host.get(key), schema, facts)
    overrides |= _unused_parameters(merged, typed, schema, catalog, outputs, side, planned_host, notes)
    inherited = merged.inherited
    base_host = _at(inherited.value, host_path) if inherited is not None else None
    plan = SwapPlan(
        written,
        isinstance(base_host, dict) and key in base_host,
        outputs,
        overrides,
        _imports(merged, schema, library, _planned_model(merged, host_path, host_override)),
        tuple(notes),
        tuple(facts),
        drop_empty_imports=not _base_imports(merged),
        kept=own,
    )
    return plan, weights


def _unused_parameters(
    merged: ConfigFacts,
    backbone: dict[str, Any],
    schema: dict[str, Any],
    catalog: Catalog,
    outputs: ShapeResult,
    side: int | None,
    host: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """``find_unused_parameters=True`` where the new backbone has trainable parameters that none of the
    outputs the model reads depends on (measured: ``shapes.unreached_parameters``): the stages after the
    deepest output read, a norm of a level the neck skips, HRNet's fusions into branches nobody reads.
    Distributed training stops at its second step on the parameters without gradient. ``side``: the
    config's input side, where the backbone does not run at its own. Not measured where
    the model reads every output and its table says they reach the last stage."""
    from otxgen.facts.consumers import levels_read
    from otxgen.facts.libraries import UNUSED_PARAMETERS_KEY
    from otxgen.schema.table import ChannelTable
    from otxgen.shapes import unreached_parameters

    count = len(outputs.outputs)
    if merged.get(UNUSED_PARAMETERS_KEY) or not count or outputs.container == "nested":
        return {}
    read = levels_read(host, count)
    every = read is None or read == set(range(count))
    if every and ChannelTable.of(backbone, schema, catalog).reaches_the_last_stage(backbone):
        return {}
    unreached = unreached_parameters(backbone, range(count) if read is None else read, side)
    if not unreached:
        return {}
    notes.append(
        f"{UNUSED_PARAMETERS_KEY}=True: {len(unreached)} of the backbone's trainable tensors (the first: "
        f"{unreached[0]}) get no gradient from the outputs the model reads; distributed training stops on "
        "them without it"
    )
    return {UNUSED_PARAMETERS_KEY: True}


def _weights_here(
    weights: Weights | None,
    old: dict[str, Any],
    requested: dict[str, Any],
    schema: dict[str, Any],
    same_type: bool,
    facts: list[str],
    notes: list[str],
    host: dict[str, Any],
) -> tuple[Weights | None, bool]:
    """The weights this config's backbone gets, and whether it keeps its own: ``--weights auto`` chose for
    the requested backbone, but a swap to the type the config has builds the config's own arguments with
    the new ones, whose weights are its own where the parameters stay as they are, else the published
    checkpoint of what it builds (``weights.for_the_same_type``)."""
    from otxgen.app.weights import AUTO, for_the_same_type

    if not same_type or weights is None or weights.choice != AUTO:
        return weights, False
    mine = for_the_same_type(schema, old, requested)
    if mine is None:
        held = [k for k in ("init_cfg", "pretrained") if old.get(k) is not None]
        held += ["the model's pretrained"] if host.get("pretrained") is not None else []
        said = f"its own weights ({', '.join(held)}) stay" if held else "it keeps training from scratch"
        facts.append(f"weights: the new arguments leave the backbone's parameters as they are: {said}")
        return None, True
    if mine.init_cfg != weights.init_cfg:  # what the request's lines said holds here too, else this config's
        notes.extend(mine.notes)
        facts.extend(f"{fact} (for the backbone this config builds)" for fact in mine.facts)
    return mine, False


def _say_switched_on(backbone: object, schema: dict[str, Any], facts: list[str]) -> None:
    """The config's backbone as it will be built, where its weights switch is on by default and nothing
    turns it off or loads a checkpoint (mmseg's TIMMBackbone): its library's weights are fetched as it is
    built, said for this config (a rebuild keeps the config's own ``pretrained=False``)."""
    from otxgen.facts.checkpoints import is_weights, switched_on

    if not isinstance(backbone, dict) or not switched_on(schema.get("properties", {})) or "pretrained" in backbone:
        return
    if not is_weights("init_cfg", backbone.get("init_cfg")):
        facts.append("weights: pretrained is on by default: the library's own, fetched as the backbone is built")


def _with_weights(
    requested: dict[str, Any], weights: Weights | None, own: dict[str, Any], schema: dict[str, Any]
) -> dict[str, Any]:
    """``requested`` with the checkpoint it loads: ``weights``' (read with the arguments the library's configs
    read it with, where the user set none), or the config's own weights keys (``own``) where they stay. A
    weights switch that is on by default is turned off where they are none or a checkpoint."""
    from otxgen.app.weights import NONE
    from otxgen.facts.checkpoints import is_weights, switched_on

    requested = {**requested, **{k: v for k, v in own.items() if is_weights(k, v)}}
    others = weights is not None and (weights.init_cfg is not None or weights.choice == NONE)
    if others and "pretrained" not in requested and switched_on(schema.get("properties", {})):
        requested = {**requested, "pretrained": False}
    if weights is not None and weights.init_cfg is not None:
        requested = {**requested, "init_cfg": weights.init_cfg}
        reading = dict(weights.checkpoint.arguments) if weights.checkpoint is not None else {}
        requested |= {k: v for k, v in reading.items() if k not in requested}  # the user's own arguments win
    return requested


def written(
    plan: SwapPlan, merged: ConfigFacts, target: str | None, schema: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """What the codemods write for ``plan`` (the backbone and the overrides): where a value the plan
    sets is what the ``_base_`` chain alone gives, the file's own other setting is removed (``Drop``),
    so that a swap back to the base's backbone leaves no copy of the base behind. The merged result is
    the plan's either way; the backbone counts as the base's when every argument, defaults filled in
    from its schema, is."""
    from codemods.overrides import Drop

    inherited = merged.inherited
    if inherited is None:
        return plan.backbone, plan.overrides
    host_path, key = _target_path(target)
    overrides = _pruned(plan.overrides, inherited.value)
    base_backbone = _at(inherited.value, (*host_path, key))
    backbone = plan.backbone
    # the backbone the file will load to: the plan's new one, or the file's own edited in place (one
    # that replaces the base's with ``_delete_``, from an earlier swap, may now be the base's again)
    planned = (
        backbone if backbone is not None else _at(planned_view(merged, plan, target).names.value, (*host_path, key))
    )
    if isinstance(planned, dict) and isinstance(base_backbone, dict) and _same_backbone(planned, base_backbone, schema):
        backbone = None
        overrides = _merged_dicts(overrides, _nested((*host_path, key), Drop(base_backbone)))
    return backbone, overrides


_MISSING = object()


def _pruned(override: dict[str, Any], base: Any) -> dict[str, Any]:
    from codemods.overrides import Drop, Replace

    pruned: dict[str, Any] = {}
    for key, value in override.items():
        given = base.get(key, _MISSING) if isinstance(base, dict) else _MISSING
        if isinstance(value, Replace):
            pruned[key] = value
        elif isinstance(value, dict) and value.get("_delete_"):
            whole = {k: v for k, v in value.items() if k != "_delete_"}
            pruned[key] = Drop(given) if given is not _MISSING and same_value(whole, given) else value
        elif isinstance(value, dict):
            pruned[key] = _pruned(value, given)
        else:
            pruned[key] = Drop(given) if given is not _MISSING and same_value(value, given) else value
    return pruned


def _same_backbone(new: dict[str, Any], old: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether two backbone mappings of one type build the same backbone (an absent argument at its
    schema default)."""
    if new.get("type") != old.get("type"):
        return False
    properties = schema.get("properties") or {}

    def value(mapping: dict[str, Any], key: str) -> Any:
        return mapping.get(key, (properties.get(key) or {}).get("default", _MISSING))

    keys = (set(new) | set(old)) - {"_delete_", "type"}
    return all(value(new, key) is not _MISSING and same_value(value(new, key), value(old, key)) for key in keys)


def planned_view(merged: ConfigFacts, plan: SwapPlan, target: str | None) -> ConfigFacts:
    """The merged view as the plan leaves it (what the written file will load to): the overrides merged in
    mmengine's way, the new backbone and ``custom_imports`` set. Positions stay where the values were
    set before (a new value answers at its parent's); what the plan sets is no longer unresolved."""
    from codemods.overrides import Replace
    from otxgen.config.located import Located

    host_path, key = _target_path(target)
    names = _overridden(merged.names.value, plan.overrides)
    if plan.backbone is not None:
        names = _overridden(names, _nested((*host_path, key), Replace(plan.backbone)))
    if plan.imports is not None:
        current = names.get("custom_imports")
        names["custom_imports"] = {**(current if isinstance(current, dict) else {}), "imports": list(plan.imports)}
    changed = {(*host_path, key), *_leaves(plan.overrides, ())}
    unresolved = {
        path: code
        for path, code in merged.names.unresolved.items()
        if not any(path[: len(done)] == done for done in changed)
    }
    located = Located(names, merged.names.values, merged.names.keys, unresolved)
    return replace(merged, names=located)


def _nested(path: tuple[str, ...], value: object) -> dict[str, Any]:
    nested: Any = value
    for step in reversed(path):
        nested = {step: nested}
    return dict(nested)


def _leaves(override: dict[str, Any], path: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """The paths an override sets (a merged dict's keys, each whole value)."""
    from codemods.overrides import Replace

    found: list[tuple[str | int, ...]] = []
    for key, value in override.items():
        here = (*path, key)
        merges = isinstance(value, dict) and not value.get("_delete_") and not isinstance(value, Replace)
        found += _leaves(value, here) if merges else [here]
    return found


def _refuse_single_stride_into_pyramid(host: dict[str, Any], outputs: ShapeResult, host_path: tuple[str, ...]) -> None:
    """A ViT-style backbone gives every level at one stride; a pyramid neck (FPN...) built on it would
    run, but its levels would all see the same resolution and the anchors' strides would be wrong. The
    converse too: a neck that rescales single-stride levels into a pyramid, fed a pyramid."""
    from otxgen.facts.consumers import (
        LEVEL_PRESERVING_NECKS,
        ONE_STRIDE_NECKS,
        RESCALING_NECKS,
        first_of,
        known_as,
        type_name,
    )

    neck = first_of(host.get("neck"))
    strides = {o.stride for o in outputs.outputs}
    if neck is not None and known_as(neck, ONE_STRIDE_NECKS) and len(strides) > 1:
        listed = ", ".join(str(o.stride) for o in outputs.outputs)
        message = (
            f"the {type_name(neck)} neck adds its levels together as they come, so they must come at one stride "
            f"(a ViT's), but the new backbone's are a pyramid (strides {listed}); start from a config with a "
            "pyramid neck or head, such as UPerNet's"
        )
        raise _RefusalError((*host_path, "neck"), message)
    if neck is not None and known_as(neck, RESCALING_NECKS) and len(strides) > 1:
        message = (
            f"the {type_name(neck)} neck rescales single-stride levels (a ViT's) into a pyramid, but the new "
            f"backbone's levels already are one (strides {', '.join(str(o.stride) for o in outputs.outputs)}); "
            "start from a config with a pyramid neck such as FPN"
        )
        raise _RefusalError((*host_path, "neck"), message)
    if neck is None or not known_as(neck, LEVEL_PRESERVING_NECKS) or len(outputs.outputs) < 2 or len(strides) > 1:
        return
    message = (
        f"the new backbone gives every level at stride {strides.pop()}, but the {type_name(neck)} neck expects a "
        "pyramid (strides growing level by level); use a neck that builds one from a single stride, such as "
        "mmseg.MultiLevelNeck (scales=[4, 2, 1, 0.5])"
    )
    raise _RefusalError((*host_path, "neck"), message)


def _refuse_misfit_levels(model: dict[str, Any], outputs: ShapeResult, task: str, host_path: tuple[str, ...]) -> None:
    """The new backbone's levels (its table's channels and strides) against what the swapped model's
    neck, heads and anchors expect: the facts the smoke-build holds the measured outputs against, so
    that what it would reject is refused before anything is written. Only where every level is a 4-D
    map of known stride (the other forms are refused above, or left to the smoke-build)."""
    from otxgen.smoke.check import check_levels
    from otxgen.smoke.expect import expectation

    levels = outputs.outputs
    if not levels or any(o.ndim != 4 or o.stride is None or o.channels is None for o in levels):
        return
    side = 64 * max(int(o.stride or 1) for o in levels)
    shapes = [(1, int(o.channels or 0), side // int(o.stride or 1), side // int(o.stride or 1)) for o in levels]
    report = check_levels(list(shapes), side, expectation(model, task))
    if report.ok:
        return
    table = ", ".join(f"{o.channels} ch at stride {o.stride}" for o in levels)
    message = (
        f"the new backbone's levels ({table}) do not fit the model: {'; '.join(report.problems)}; "
        "choose out_indices (or a backbone) whose strides match, or change the consumers to match them"
    )
    anchor = (*host_path, "neck") if "neck" in model else (*host_path, "backbone")
    raise _RefusalError(anchor, message)


def _refuse_misfit_container(
    model: dict[str, Any], outputs: ShapeResult, backbone_type: str, host_path: tuple[str, ...], catalog: Catalog
) -> None:
    """The form the new backbone returns its outputs in (a tuple, a list, one tensor) against what its
    first consumer takes; the refusal names backbones of the same name that return a form it takes."""
    from otxgen.facts.consumers import container_misfit
    from otxgen.schema.table import ChannelTable

    misfit = container_misfit(model, outputs.container)
    if misfit is None:
        return
    name = backbone_type.rpartition(".")[2]
    others = {
        other: ChannelTable(catalog.schema(other)).measured_container
        for other in catalog.types()
        if other != backbone_type and other.rpartition(".")[2] == name
    }
    fitting = [f"{other} returns a {form}" for other, form in others.items() if form in misfit.takes]
    way = f"{' and '.join(fitting)}: swap to it instead" if fitting else "choose a backbone that returns one it takes"
    raise _RefusalError((*host_path, *misfit.path), f"{misfit.message}; {way}")


def _refuse_ungrouped_widths(
    old: dict[str, Any], new: dict[str, Any], override: dict[str, Any], library: str | None, host_path: tuple[str, ...]
) -> None:
    """A consumer the swap gives new ``in_channels`` and that a group norm normalises divides the widths
    it derives from them into its groups, by its own arithmetic: built alone (on the meta device) as it
    was and as it will be; one that built and no longer does is refused, with the number of groups that
    divides them (RTMDet-ConvNeXt's GroupNorm(32) neck fed RegNet's 160 channels makes 80)."""
    from otxgen.facts.arguments import group_norms
    from otxgen.facts.libraries import LIBRARY_TASKS
    from otxgen.shapes import module_construction_error

    if library not in LIBRARY_TASKS:
        return
    for key in override:
        before, after = old.get(key), new.get(key)
        pairs: list[tuple[Any, Any]] = [(before, after)]
        listed = isinstance(before, list) and isinstance(after, list)
        if isinstance(before, list) and isinstance(after, list):  # a list of necks, part by part
            pairs = list(zip(before, after, strict=False))
        for index, (was, part) in enumerate(pairs):
            if not (isinstance(part, dict) and isinstance(was, dict) and group_norms(part)):
                continue
            if part.get("in_channels") == was.get("in_channels") or module_construction_error(was, library):
                continue
            error = module_construction_error(part, library)
            if error is None:
                continue
            fits = next((n for n in (16, 8, 4, 2) if module_construction_error(_grouped(part, n), library) is None), 1)
            path = (*host_path, key, *((index,) if listed else ()))
            message = (
                f"{'.'.join(map(str, path))} ({part.get('type')}) is normalised by GroupNorm and does not build with "
                f"the new backbone's in_channels {part.get('in_channels')}: {error}; set its norm_cfg num_groups "
                f"to {fits}, which divides every width it derives, or choose a backbone whose channels they divide"
            )
            raise _RefusalError(path, message)


def _grouped(value: Any, groups: int) -> Any:
    """``value`` with every group norm's number of groups set to ``groups``."""
    from otxgen.facts.arguments import GROUP_NORMS

    if isinstance(value, dict):
        kind = value.get("type")
        done = {k: _grouped(v, groups) for k, v in value.items()}
        return {**done, GROUP_NORMS[kind]: groups} if kind in GROUP_NORMS else done
    if isinstance(value, list):
        return [_grouped(item, groups) for item in value]
    return value


def _overridden(value: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``value`` as the overrides leave it (nested dicts merge, ``_delete_`` and ``Replace`` replace)."""
    from codemods.overrides import Replace

    result = dict(value)
    for key, new in override.items():
        if isinstance(new, Replace):
            result[key] = new.value
        elif isinstance(new, dict) and new.get("_delete_"):
            result[key] = {k: v for k, v in new.items() if k != "_delete_"}
        elif isinstance(new, dict) and isinstance(result.get(key), dict):
            result[key] = _overridden(result[key], new)
        else:
            result[key] = new
    return result


def _refuse_lost_values(override: dict[str, Any], merged: ConfigFacts, host_path: tuple[str, ...]) -> None:
    """A list written whole (mmengine replaces lists) must hold every value of the one it replaces: one
    the config computes in a way otxgen does not evaluate would be lost."""
    for key, value in override.items():
        if not isinstance(value, list):
            continue
        lost = sorted(
            (path, code)
            for path, code in merged.names.unresolved.items()
            if path[: len(host_path) + 1] == (*host_path, key)
        )
        if lost:
            path, code = lost[0]
            where = ".".join(map(str, path))
            message = (
                f"{'.'.join((*host_path, key))} is a list otxgen must write whole, and {where} is {code!r}, which it "
                "does not evaluate; write that value as a literal"
            )
            raise _RefusalError(path, message)


def _delete_over_non_dicts(override: dict[str, Any], base: Any) -> dict[str, Any]:
    """``override`` with ``_delete_`` in each dict it puts over a base's value that is not a dict (``neck=None``,
    a backbone's ``init_cfg`` list), at any depth: mmengine refuses to merge it otherwise (a ``TypeError``
    as the config loads; validate's ``merge-refused``)."""
    if not isinstance(base, dict) or "_delete_" in override:
        return override
    done = dict(override)
    for key, value in override.items():
        if not isinstance(value, dict) or key not in base:
            continue
        if isinstance(base[key], dict):
            done[key] = _delete_over_non_dicts(value, base[key])
        elif "_delete_" not in value:
            done[key] = {"_delete_": True, **value}
    return done


def _replacing_where_not_inherited(override: dict[str, Any], merged: ConfigFacts, host_path: tuple[str, ...]) -> None:
    """``_delete_`` only where a base defines the key (mmengine consumes it only there, and passes it to
    the constructor otherwise); where none does, the value replaces the file's own whole."""
    from codemods.overrides import Replace

    inherited = merged.inherited
    base = _at(inherited.value, host_path) if inherited is not None else None
    for key, value in override.items():
        if isinstance(value, dict) and value.get("_delete_") and not (isinstance(base, dict) and key in base):
            override[key] = Replace({k: v for k, v in value.items() if k != "_delete_"})


def _target_path(target: str | None) -> tuple[tuple[str, ...], str]:
    """``--target model.student.backbone`` -> (``('model', 'student')``, ``'backbone'``)."""
    parts = tuple((target or "model.backbone").split("."))
    return parts[:-1], parts[-1]


def _list_on_the_way(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The first prefix of ``path`` that leads to a list in ``value`` (``model.image_encoder``)."""
    for depth, step in enumerate(path):
        value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, (list, tuple)):
            return path[: depth + 1]
    return None


def _parts_hint(host: Any) -> str:
    """What the model holds instead, for the message: its parts that are built from a type."""
    if not isinstance(host, dict):
        return ""
    parts = [
        key if isinstance(value, dict) else f"{key} (a list, which otxgen does not swap into)"
        for key, value in host.items()
        if (isinstance(value, dict) and "type" in value)
        or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) and "type" in v for v in value))
    ]
    return f" (it has {', '.join(parts)}; --target names the backbone)" if parts else ""


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _refuse_opaque(merged: ConfigFacts) -> None:
    if merged.opaque:
        first = merged.opaque[0]
        message = f"{first.code!r} {first.why} (otxgen reads the config without executing it)"
        raise InputError(message, first.where.file, first.where.line, first.where.col)
    from otxgen.facts.consumers import READER_KEYS, READING_KEYS

    located = merged.names
    for path, code in located.unresolved.items():
        if len(path) == 2 and path[0] == "model" and path[1] in READER_KEYS:
            where = located.where(path)
            message = (
                f"model.{path[1]} is {code!r}, which otxgen does not evaluate, and it may read the backbone's "
                "outputs: write it as dict(...) of literals (or names bound to them)"
            )
            raise InputError(message, where.file, where.line, where.col)
        if len(path) > 2 and path[0] == "model" and path[1] in READER_KEYS and path[-1] in READING_KEYS:
            where, dotted = located.where(path), ".".join(map(str, path))
            message = (
                f"{dotted} is {code!r}, which otxgen does not evaluate, and the swap must update it: write its "
                "value (a number, or a list of numbers), or an expression of numbers and names bound to them"
            )
            raise InputError(message, where.file, where.line, where.col)


def _host(merged: ConfigFacts, host_path: tuple[str, ...], key: str) -> dict[str, Any]:
    """The dict that holds the backbone (``model``), checked: a literal backbone dict, not a wrapper."""
    located = merged.names
    for path in (host_path, (*host_path, key)):
        if path in located.unresolved:
            code = located.unresolved[path]
            message = (
                f"{'.'.join(map(str, path))} is {code!r}, not dict(...): write it inline as dict(...) to rewrite it"
            )
            raise _RefusalError(path, message)
    host = _at(merged.names.value, host_path)
    dotted = ".".join((*host_path, key))
    if not isinstance(host, dict) or not isinstance(host.get(key), dict):
        listed = _list_on_the_way(merged.names.value, (*host_path, key))
        if listed is not None:
            message = (
                f"{'.'.join(listed)} is a list, and otxgen swaps a backbone held under a key of a dict "
                "(model.backbone, model.student.backbone): swap this one by hand"
            )
            raise _RefusalError(listed, message)
        where = "in the config or its _base_ files" if merged.bases else "in the config"
        raise _RefusalError(host_path, f"no {dotted} {where}{_parts_hint(host)}")
    old = host[key]
    if not isinstance(old.get("type"), str):
        raise _RefusalError((*host_path, key), "the backbone has no literal type")
    _refuse_second_backbone(host, host_path, key)
    return host


def _refuse_second_backbone(host: dict[str, Any], host_path: tuple[str, ...], key: str) -> None:
    """A part of the model that builds its own copy of the backbone (DetectoRS's RFP neck holds an
    ``rfp_backbone``): the swap would leave that copy the old backbone, with its old weights."""
    from otxgen.facts.consumers import each_of

    for part, value in host.items():
        for index, item in enumerate(each_of(value) if part != key else []):
            for inner, config in item.items():
                if "backbone" in inner and isinstance(config, dict) and "type" in config:
                    at = (*host_path, part, *((index,) if isinstance(value, list) else ()), inner)
                    message = (
                        f"{'.'.join(map(str, at))} is a second backbone ({config['type']}) that {part} builds for "
                        "itself: the swap would leave it the old one; start from a config without one"
                    )
                    raise _RefusalError(at, message)


def _blamed(backbone: dict[str, Any], failure: str, requested: Mapping[str, Any]) -> str | None:
    """The argument a build failure is about: the first given one its failing line names, else the
    first whose number it quotes (``negative dimension -5``); the user's own (``requested``) first,
    then those carried over from the old backbone."""
    keys = [key for key in backbone if key not in ("type", "init_cfg")]
    given = [key for key in keys if key in requested] + [key for key in keys if key not in requested]
    named = [key for key in given if re.search(rf"\b{re.escape(key)}\b", failure)]
    if named:
        return named[0]
    quoted = set(re.findall(r"-?\d+(?:\.\d+)?", failure))
    numbers = [key for key in given if isinstance(backbone[key], (int, float)) and not isinstance(backbone[key], bool)]
    found = next((key for key in numbers if str(backbone[key]) in quoted and backbone[key] not in (0, 1)), None)
    return found if found is not None else _without_which_it_builds(backbone, [k for k in given if k in requested])


def _without_which_it_builds(backbone: dict[str, Any], given: list[str]) -> str | None:
    """The first argument the user gave without which the backbone constructs (``dcn`` on a ResNet-18,
    whose assertion says only "Not implemented yet."); None where there is none."""
    from otxgen.shapes import construction_error

    if len(given) > 4:  # each try builds the backbone: a failure names its argument, or is asked of few
        return None
    without = ({k: v for k, v in backbone.items() if k != key} for key in given)
    return next((key for key, other in zip(given, without, strict=True) if construction_error(other) is None), None)


def _configs_given(requested: Mapping[str, Any]) -> bool:
    """Whether the user gave the backbone a module's config or a per-stage list (``dcn``, ``plugins``,
    ``stage_with_dcn``): the channel table says the outputs whatever they are, but not whether the
    backbone constructs with them (mmdet's ResNet-18 asserts that it takes no ``dcn``)."""
    return any(isinstance(v, (dict, list, tuple)) for k, v in requested.items() if k not in ("init_cfg", "out_indices"))


def _outputs(
    backbone: dict[str, Any],
    task: str,
    schema: dict[str, Any],
    notes: list[str],
    requested: Mapping[str, Any],
    side: int | None,
    reads_nested: bool = False,
    maps_reader: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], ShapeResult]:
    """The backbone's outputs, at its own input size or else at ``side``, the one the config feeds it (a
    SwinV2 given 24 px windows runs at a 384 px crop, not at its own 256); for a dense task, or a
    classifier whose neck reads maps (``maps_reader``: HRNet's HRFuseScales), a backbone that pools by
    default (ConvNeXt) gets the arguments its table records for feature maps
    (``gap_before_final_norm=False``), unless set; so does one that gives several outputs per level
    (DistilledViT's two tokens) in any task, unless the head reads them (``reads_nested``: DeiT's)."""
    from otxgen.facts.consumers import type_name
    from otxgen.schema.table import ChannelTable
    from otxgen.shapes import NO_OUTPUTS, ProbeError, construction_error, probe_outputs

    try:
        try:
            result = probe_outputs(backbone)
        except ProbeError:
            if side is None:
                raise
            result = probe_outputs(backbone, input_size=side)
        if result.tier == "static" and _configs_given(requested):  # the table read the outputs, not these
            failure = construction_error(backbone)
            if failure is not None:
                raise ProbeError(f"{backbone['type']} does not construct: {failure}")
        dense_args = ((schema.get("x-otxgen") or {}).get("channels") or {}).get("dense_args") or {}
        nested = result.container == "nested" and not reads_nested  # DistilledViT's tokens: DeiT's head reads them
        wanted = nested or ((task != "classification" or maps_reader is not None) and not result.is_dense)
        if wanted and dense_args and not set(dense_args) & set(backbone):
            backbone = {**backbone, **dense_args}
            result = probe_outputs(backbone)
            said = ", ".join(f"{k}={v!r}" for k, v in dense_args.items())
            why = "gives several outputs per level" if nested else "pools"
            needs = "one feature map per level" if nested else "feature maps"
            who = f"a {task} model" if maps_reader is None else f"the neck {type_name(maps_reader)}"
            notes.append(f"set {said}: {backbone['type']} {why} by default, and {who} needs {needs}")
    except ProbeError as error:
        if NO_OUTPUTS in error.why and "out_indices" in requested:  # indices it does not count so (-1)
            stages = ChannelTable(schema).stages(backbone)
            counted = f"; it counts its stages 0..{len(stages) - 1}" if stages else ""
            message = (
                f"backbone.out_indices: {backbone['type']} gives no outputs with {backbone['out_indices']!r}{counted}"
            )
            raise ArgumentError(message, "out_indices") from None
        blamed = _blamed(backbone, str(error), requested)
        if blamed is not None:
            message = (
                f"backbone.{blamed}: {backbone['type']} does not build with {blamed}={backbone[blamed]!r} ({error})"
            )
            raise ArgumentError(message, blamed) from None
        raise InputError(f"cannot work out the outputs of {backbone['type']}: {error}") from None
    if task != "classification" and not result.is_dense:
        shapes = ", ".join(f"{o.ndim}-D" for o in result.outputs)
        raise InputError(
            f"{backbone['type']} gives {shapes} outputs with these arguments, not the 4-D feature maps a "
            "dense task needs; set out_indices (and the library's options for feature maps) in backbone.yaml"
        )
    return backbone, result


def _classifier_overrides(
    model: dict[str, Any], outputs: ShapeResult, channels: list[int], notes: list[str], scope: str | None
) -> dict[str, Any]:
    """A classifier pools the last map: a pooling neck for a backbone that gives maps, none for one that
    pools itself (ConvNeXt) or gives a class token (ViT); a token head becomes the linear head. Maps in a
    list get ``LIST_TO_TUPLE_NECK`` in front of the pooling neck."""
    from otxgen.facts.consumers import (
        LINEAR_HEAD,
        LINEAR_HEAD_KEEPS,
        POOLING_NECK,
        TOKEN_HEADS,
        first_of,
        is_pooling_neck,
        known_as,
        type_name,
        unpooled_head,
    )

    override: dict[str, Any] = {}
    ndim = outputs.outputs[-1].ndim
    pooled = ndim == 2
    neck = first_of(model.get("neck"))
    if pooled and neck is not None and is_pooling_neck(neck):
        override["neck"] = None
        notes.append(f"removed neck {type_name(neck)}: the new backbone gives pooled vectors itself")
    elif unpooled_head(model, ndim) is not None:
        override["neck"] = dict(POOLING_NECK)
        notes.append("added neck GlobalAveragePooling: the head takes pooled vectors and the backbone gives maps")
    elif neck is not None and type_name(neck) == "GlobalAveragePooling" and neck.get("dim", 2) != ndim - 2:
        override["neck"] = {"dim": ndim - 2}  # 1: tokens (MLP-Mixer), 2: maps
        notes.append(
            f"neck GlobalAveragePooling pools {ndim - 2}-D now (dim={ndim - 2}): the backbone's outputs are {ndim}-D"
        )
    if ndim == 4 and not pooled:
        override |= _list_to_tuple(model, override.get("neck"), outputs.container, channels, notes, scope)
    head = model.get("head")
    if isinstance(head, dict) and known_as(head, TOKEN_HEADS) and not pooled:
        kept = {k: head[k] for k in LINEAR_HEAD_KEEPS if k in head and k != "init_cfg"}
        override["head"] = {"_delete_": True, "type": LINEAR_HEAD, **kept, "in_channels": channels[-1]}
        notes.append(f"head {type_name(head)} reads a class token: replaced by {LINEAR_HEAD} (kept: {', '.join(kept)})")
    return override


def _refuse_unfused(
    neck: Mapping[str, Any],
    old: dict[str, Any],
    outputs: ShapeResult,
    library: str | None,
    catalog: Catalog,
    path: tuple[str | int, ...],
) -> None:
    """A classifier's neck that fuses the old backbone's levels (HRNet's HRFuseScales: one branch a
    level, each at twice the stride of the one before) takes them at those strides only: a backbone
    that gives other strides or another count of levels (a ViT's one, the user's ``out_indices``) is
    refused before anything is written."""
    from otxgen.facts.consumers import type_name
    from otxgen.schema.table import ChannelTable

    wanted = ChannelTable.for_config(old, library, catalog).strides()
    got = [output.stride for output in outputs.outputs]
    if wanted is None or got == wanted:
        return
    listed = ", ".join(str(stride) for stride in got)
    message = (
        f"the neck {type_name(neck)} fuses the old backbone's levels at strides {', '.join(map(str, wanted))}, "
        f"and the new one gives {len(got)} at {listed}: choose a backbone with stages at those strides, or set "
        "out_indices to give them"
    )
    raise _RefusalError(path, message)


def _without_list_neck(model: dict[str, Any]) -> dict[str, Any]:
    """The override that removes ``LIST_TO_TUPLE_NECK`` where a swap put it in front of a pooling neck:
    the new backbone's outputs decide anew whether it goes back (``_list_to_tuple``), at their width."""
    from otxgen.facts.consumers import LIST_TO_TUPLE_NECK, first_of, is_pooling_neck, type_name

    value = model.get("neck")
    necks = list(value) if isinstance(value, (list, tuple)) else []
    front = first_of(necks)
    if front is None or type_name(front) != LIST_TO_TUPLE_NECK[1] or len(necks) < 2 or not is_pooling_neck(necks[1]):
        return {}
    return {"neck": necks[1:] if len(necks) > 2 else {"_delete_": True, **necks[1]}}


def _deepest_alone(
    model: dict[str, Any],
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    given: set[str],
    facts: list[str],
) -> tuple[dict[str, Any], ShapeResult]:
    """A backbone that gives its levels in a list, into a classifier's pooling neck, set to give its
    deepest level alone (the one the head reads), where it takes ``out_indices`` and the user did not
    set them: the neck put in front of the pooling then maps that level only, and no parameter is left
    without a gradient (DDP's default refuses those)."""
    from otxgen.facts.consumers import first_of, is_pooling_neck
    from otxgen.schema.table import ChannelTable
    from otxgen.shapes import ProbeError, probe_outputs, static_outputs

    neck = first_of(model.get("neck"))
    if outputs.container != "list" or len(outputs.outputs) < 2 or "out_indices" in given:
        return backbone, outputs
    stages = ChannelTable(schema).stages(backbone)
    if (neck is not None and not is_pooling_neck(neck)) or not stages:
        return backbone, outputs
    adjusted = {**backbone, "out_indices": (len(stages) - 1,)}
    try:
        result = static_outputs(adjusted, schema) if outputs.tier == "static" else probe_outputs(adjusted)
    except ProbeError:
        return backbone, outputs
    if result is None or len(result.outputs) != 1:
        return backbone, outputs
    facts.append(f"out_indices={adjusted['out_indices']}: the deepest level alone, which the head reads")
    return adjusted, result


def _list_to_tuple(
    model: dict[str, Any], added: Any, container: str | None, channels: list[int], notes: list[str], scope: str | None
) -> dict[str, Any]:
    """The neck override for maps given in a list (``container``) to a pooling neck, which takes a tuple
    or one tensor: ``LIST_TO_TUPLE_NECK`` in front of it (of the neck ``added`` where the plan adds one).
    ``model`` is without the one a swap put there before (``_without_list_neck``)."""
    from otxgen.facts.consumers import LIST_TO_TUPLE_ARGS, LIST_TO_TUPLE_NECK, first_of, is_pooling_neck, type_name

    value = added if added is not None else model.get("neck")
    necks = list(value) if isinstance(value, (list, tuple)) else [value] if value is not None else []
    library, name = LIST_TO_TUPLE_NECK
    front = first_of(necks)
    if container != "list" or front is None or not is_pooling_neck(front):
        return {}
    mapper: dict[str, Any] = {"type": name if scope == library else f"{library}.{name}", "in_channels": channels}
    mapper |= {"out_channels": channels[-1], **LIST_TO_TUPLE_ARGS}
    notes.append(
        f"added neck {mapper['type']} before {type_name(front)}: the new backbone returns its maps in a list, "
        f"which {type_name(front)} does not take; a 1x1 convolution per level into {channels[-1]} channels "
        "passes them on as a tuple"
    )
    return {"neck": [mapper, *necks]}


def _weights(
    merged: ConfigFacts,
    host: dict[str, Any],
    host_path: tuple[str, ...],
    host_override: dict[str, Any],
    notes: list[str],
    kept: bool = False,
) -> dict[str, Any]:
    """The overrides (top-level names), with the old network's weights removed: ``model.pretrained``
    (mmseg and mmdet pass it to the backbone, unless the backbone ``kept`` its weights) and a whole-model
    ``load_from`` (its backbone changed)."""
    if host.get("pretrained") is not None and not kept:
        host_override = {**host_override, "pretrained": None}
        notes.append(f"removed {'.'.join(host_path)}.pretrained={host['pretrained']!r}: the old backbone's weights")
    overrides: dict[str, Any] = {}
    if host_override:
        nested: dict[str, Any] = host_override
        for step in reversed(host_path[1:]):
            nested = {step: nested}
        overrides[host_path[0]] = nested
    if merged.get("load_from") is not None and not kept:
        overrides["load_from"] = None
        notes.append(f"removed load_from={merged.get('load_from')!r}: a checkpoint of the whole old model")
    return overrides


def _optimizer(
    merged: ConfigFacts, backbone: dict[str, Any], was: dict[str, Any] | None, library: str | None, notes: list[str]
) -> dict[str, Any]:
    """``optim_wrapper`` with mmengine's default constructor where the config's is built for other backbone
    families (it would raise when training builds the optimizer); the learning-rate decay it set goes."""
    from otxgen.shapes import answers_per_parameter

    def answers(method: str) -> bool:
        return answers_per_parameter(backbone, method)

    misfit = optimizer_misfit(merged.names.value, backbone["type"], library, answers)
    if misfit is None:
        return _decay_depth(merged, backbone, was, library, notes)
    wrapper = merged.get("optim_wrapper")
    override = default_constructor(wrapper)
    _replacing_where_not_inherited(override, merged, ("optim_wrapper",))
    dropped = [key for key in DECAY_KEYS if key in (wrapper.get("paramwise_cfg") or {})]
    lost = f", and paramwise_cfg's {', '.join(dropped)} (the layer-wise learning-rate decay) with it" if dropped else ""
    notes.append(
        f"optim_wrapper: replaced {misfit.constructor} with {DEFAULT_CONSTRUCTOR}{lost}: "
        f"{misfit.constructor} works for {misfit.works_for} only"
    )
    return {"optim_wrapper": override}


def _decay_depth(
    merged: ConfigFacts, backbone: dict[str, Any], was: dict[str, Any] | None, library: str | None, notes: list[str]
) -> dict[str, Any]:
    """A decay constructor kept for the new backbone counts its layers: ``num_layers`` keeps the margin it
    had over the least that keeps every layer of the old backbone (``was``) at or below the head's rate
    (BEiT-B's 12 over 11 -> BEiT-L's 24; ConvNeXt-T's 6 over 4 -> ConvNeXt-S's 12, as the libraries'
    own configs count), in either direction; a count that did not fit the old one either becomes one
    over the new least where it is too low (its deepest layers would train faster than the head)."""
    from otxgen.facts.optimizers import FAMILY_BOUND_CONSTRUCTORS
    from otxgen.shapes import decay_depth

    wrapper = merged.get("optim_wrapper")
    paramwise = wrapper.get("paramwise_cfg") if isinstance(wrapper, dict) else None
    current = paramwise.get("num_layers") if isinstance(paramwise, dict) else None
    name = str(wrapper.get("constructor", "")).rpartition(".")[2] if isinstance(wrapper, dict) else ""
    if not isinstance(current, int) or library is None or (library, name) not in FAMILY_BOUND_CONSTRUCTORS:
        return {}
    try:
        least = decay_depth(backbone, library, wrapper)
        before = decay_depth(was, library, wrapper) if was is not None else None
    except Exception:  # noqa: BLE001 - what cannot be built here is the smoke-build's to find
        return {}
    if least is None:
        return {}
    if before is not None and current >= before:
        fitted = least + current - before
    elif current < least:
        fitted = least + 1
    else:
        return {}
    if fitted == current:
        return {}
    notes.append(
        f"optim_wrapper.paramwise_cfg.num_layers={fitted} (was {current}): {name} counts the layers of "
        f"{backbone['type']} as {current} counted the old backbone's"
    )
    return {"optim_wrapper": {"paramwise_cfg": {"num_layers": fitted}}}


def _spelled(
    backbone: dict[str, Any], schema: dict[str, Any], library: str | None, old: dict[str, Any]
) -> dict[str, Any]:
    """The type unscoped when the config's own library registers it (unless the config already spells
    it scoped: a build added ``custom_imports``, and a second build must not unscope it), else scoped,
    with the defaults only its own library's scope resolves written scoped (the schema's
    ``scoped_defaults``: UNet's ``upsample_cfg=dict(type='mmseg.InterpConv')`` in a classifier)."""
    meta = schema["x-otxgen"]
    value = {key: _tuple_lists(key, val) for key, val in backbone.items()}
    if meta["library"] == library and old.get("type") != backbone["type"]:
        value["type"] = meta["name"]
    if meta["library"] != library:
        value = {key: _scoped_inner(key, val, meta["library"]) for key, val in value.items()}
        value |= {key: val for key, val in (meta.get("scoped_defaults") or {}).items() if key not in value}
    return value


def _scoped_inner(key: str, value: Any, library: str) -> Any:
    """A backbone built around another (BiSeNet's ``backbone_cfg``) builds it in the default scope, the
    config's: in a config of another library, that one's unscoped type is scoped to the backbone's."""
    if "backbone" not in key or not isinstance(value, dict):
        return value
    inner = {k: _scoped_inner(k, v, library) for k, v in value.items()}
    kind = inner.get("type")
    if isinstance(kind, str) and "." not in kind:
        inner["type"] = f"{library}.{kind}"
    return inner


def _tuple_lists(key: str, value: Any) -> Any:
    """YAML has no tuples; mm configs spell index and size sequences as tuples. One with a negative index
    stays a list: a backbone may count it from the end in place (mmpretrain's ConvNeXt assigns into it)."""
    if not isinstance(value, list) or not key.endswith(("indices", "_size", "strides")):
        return value
    negative = any(isinstance(item, int) and not isinstance(item, bool) and item < 0 for item in value)
    return value if negative else tuple(value)


def _imports(
    merged: ConfigFacts, schema: dict[str, Any], library: str | None, planned: dict[str, Any]
) -> list[str] | None:
    """The whole ``custom_imports`` list after the swap (a child's list replaces its base's, so the
    base's entries are repeated), or None when it stays: the new backbone's registering module unless
    the config's own library registers it, and those of the scopes the ``planned`` model names (a
    pyramid neck of mmseg's), without the registering modules nothing uses any more."""
    meta = schema["x-otxgen"]
    current = merged.custom_imports
    needed = [] if meta["library"] == library else [meta["custom_import"]]
    scopes = _scopes_used(planned, skip=("backbone",)) - {library}
    needed += [module for module, scope in REGISTERING_MODULES.items() if scope in scopes]
    used = scopes | {meta["library"]}
    wanted = [m for m in current if REGISTERING_MODULES.get(m, "") in used or m not in REGISTERING_MODULES]
    wanted += [m for m in needed if m not in wanted]
    return None if wanted == current else wanted


def _planned_model(merged: ConfigFacts, host_path: tuple[str, ...], host_override: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` dict as the plan leaves it (the backbone aside)."""
    model = merged.get("model")
    model = model if isinstance(model, dict) else {}
    if host_path[:1] != ("model",):
        return model
    return (
        _overridden(model, _nested(host_path[1:], host_override))
        if host_path[1:]
        else _overridden(model, host_override)
    )


def _base_imports(merged: ConfigFacts) -> list[Any]:
    """The ``custom_imports`` list the ``_base_`` chain alone gives."""
    inherited = merged.inherited.value.get("custom_imports") if merged.inherited is not None else None
    imports = inherited.get("imports") if isinstance(inherited, dict) else None
    return list(imports) if isinstance(imports, (list, tuple)) else [imports] if imports else []


def _head_strides(
    host: dict[str, Any], old: dict[str, Any], outputs: ShapeResult, library: str | None, catalog: Catalog
) -> Strides | None:
    """The strides of the old backbone's levels and of the new one's, where a segmentation head reads the
    backbone's levels itself by ``in_index`` (``consumer_overrides`` maps them by their strides)."""
    from otxgen.app.strides import strides_before
    from otxgen.facts.consumers import SEG_HEAD_KEYS, Strides, each_of

    indices = [head.get("in_index") for key in SEG_HEAD_KEYS for head in each_of(host.get(key))]
    listed = [i for index in indices for i in (index if isinstance(index, (list, tuple)) else [index])]
    if not any(isinstance(index, int) and not isinstance(index, bool) and index >= 0 for index in listed):
        return None
    after = [output.stride for output in outputs.outputs]
    before = strides_before(host, old, library, catalog)
    if not before or not all(isinstance(stride, int) for stride in after):
        return None
    return Strides(before, [int(stride or 0) for stride in after])


def _say_levels_at_strides(
    host: dict[str, Any],
    planned: dict[str, Any],
    strides: Strides | None,
    count: int,
    facts: list[str],
    notes: list[str],
) -> None:
    """Each segmentation head's ``in_index`` that the swap changed is said in ``facts``, with the stride
    it follows where it followed one; DeepLabV3+'s low-level branch, which reads the first level whatever
    its stride, is a ``[!]`` note where that stride changed."""
    from otxgen.facts.consumers import LOW_LEVEL_KEY, SEG_HEAD_KEYS, each_of

    for key in SEG_HEAD_KEYS:
        for number, (was, now) in enumerate(zip(each_of(host.get(key)), each_of(planned.get(key)), strict=False)):
            name = key if not isinstance(host.get(key), list) else f"{key}[{number}]"
            before, after = was.get("in_index", -1), now.get("in_index", -1)
            if after != before and _follows_stride(before, after, strides):
                assert strides is not None
                at = [strides.after[level] for level in (after if isinstance(after, list) else [after])]
                facts.append(
                    f"{name}.in_index={after} (was {before}): the new backbone's levels at the strides its old "
                    f"ones were at ({', '.join(map(str, at))}), as it gives {count} levels, not {len(strides.before)}"
                )
            elif after != before:
                facts.append(f"{name}.in_index={after} (was {before}): the new backbone gives {count} levels")
            low = LOW_LEVEL_KEY in now and strides is not None and strides.before and strides.after
            if low and strides is not None and strides.after[0] != strides.before[0]:
                notes.append(
                    f"{name} ({now.get('type')}) reads the first level for its low-level branch, whatever its "
                    f"stride: at {strides.after[0]} now, at {strides.before[0]} before; set out_indices to start "
                    f"at the stage at stride {strides.before[0]} to keep it"
                )


def _follows_stride(before: object, after: object, strides: Strides | None) -> bool:
    """Whether ``after`` is the level (or levels) at the strides ``before``'s were at."""
    if strides is None:
        return False
    olds = before if isinstance(before, (list, tuple)) else [before]
    news = after if isinstance(after, (list, tuple)) else [after]
    indices = [i for i in olds if isinstance(i, int) and not isinstance(i, bool) and i >= 0]
    if len(indices) != len(olds) or len(olds) != len(news):
        return False
    return [strides.level_at(i) for i in indices] == list(news)


def _scopes_used(value: object, skip: tuple[str, ...] = ()) -> set[str]:
    """The libraries named by scoped ``type`` strings anywhere in ``value`` (``'mmpretrain.X'``); the keys
    in ``skip`` of ``value`` itself are not looked into."""
    found: set[str] = set()
    top = {key: item for key, item in value.items() if key not in skip} if isinstance(value, Mapping) else value
    stack = [top]
    while stack:  # a walk, not a recursion: a model dict holds hundreds of values, most of them leaves
        item = stack.pop()
        if isinstance(item, (str, int, float)) or item is None:
            continue
        if isinstance(item, Mapping):
            named = item.get("type")
            if isinstance(named, str) and "." in named:
                library = canonical_library(named.rpartition(".")[0])
                if library:
                    found.add(library)
            stack.extend(inner for key, inner in item.items() if key != "type" or not isinstance(inner, str))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found
