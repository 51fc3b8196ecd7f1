"""One model config's rewrite for ``build --backbone``: the new backbone as this config spells it, the
strides its neck was built for kept, and the codemods run in one pass. Reads, never executes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otxgen import fsio
from otxgen.app import Say
from otxgen.errors import FindingsError, InputError

if TYPE_CHECKING:  # both import lazily: they are only needed once a backbone is known
    from otxgen.shapes import ShapeResult
    from otxgen.validate.model_config import ConfigFacts


@dataclass(frozen=True)
class Rewrite:
    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def backbone_outputs(backbone: dict[str, Any], say: Say) -> ShapeResult:
    from otxgen.shapes import ProbeError, probe_outputs

    try:
        result = probe_outputs(backbone)
    except ProbeError as error:
        raise InputError(f"cannot work out the outputs of {backbone['type']}: {error}") from None
    if not result.is_dense:
        shapes = ", ".join(f"{o.ndim}-D" for o in result.outputs)
        raise FindingsError(
            f"{backbone['type']} gives {shapes} outputs with these arguments, not 4-D feature maps; "
            "set out_indices (and the library's options for feature maps) in backbone.yaml"
        )
    channels = [int(o.channels or 0) for o in result.outputs]
    strides = [o.stride for o in result.outputs]
    say(f"[*] Backbone outputs ({result.tier}): channels {channels}, strides {strides}")
    return result


def rewrite_config(
    path: Path,
    backbone: dict[str, Any],
    schema: dict[str, Any],
    outputs: ShapeResult,
    catalog: Any,
    target: str | None,
    say: Say,
) -> Rewrite:
    """The new text of one model config: backbone, channels and ``custom_imports`` in one codemod pass,
    told by the ``_base_`` files (read, never executed) whether ``_delete_`` is needed and whether the
    inherited neck is a list (then the override is the whole list)."""
    from codemods.errors import CodemodError
    from codemods.inheritance import inherited_list, inherits
    from codemods.pipeline import swap_backbone
    from otxgen.validate.model_config import read_config

    before = fsio.read_text(path)
    facts = read_config(before, str(path))
    kept = _keeping_strides(facts, backbone, schema, outputs, catalog)
    if kept is not None:
        backbone, outputs = kept
        strides = ", ".join(str(o.stride) for o in outputs.outputs)
        say(f"[*] {path.name}: out_indices={backbone['out_indices']} keeps the strides its neck expects ({strides})")
    channels = [int(o.channels or 0) for o in outputs.outputs]
    config_backbone, imports = _as_config_value(facts, backbone, schema)
    _refuse_uncompilable(before, str(path))
    read, host = _base_reader(path.parent), (target or "model.backbone").rpartition(".")[0]
    try:
        after = swap_backbone(
            before,
            config_backbone,
            channels,
            imports=imports,
            target=target,
            backbone_inherited=inherits(before, target or "model.backbone", read, here=path.name),
            neck_inherited=inherits(before, f"{host}.neck", read, here=path.name),
            base_neck=inherited_list(before, f"{host}.neck", read, here=path.name),
        )
    except CodemodError as error:
        raise InputError(error.message, str(path), error.line, error.col) from None
    return Rewrite(path, before, after)


def _base_reader(folder: Path) -> Callable[[str], str]:
    """Reads ``_base_`` files relative to the model's folder; one that cannot be read (missing, binary,
    too large) is an ``OSError``, which ``inherits`` takes as "unknown" (the codemods then guess)."""

    def read(relative: str) -> str:
        try:
            return fsio.read_text(folder / relative)
        except InputError as error:
            raise OSError(str(error)) from None

    return read


def _refuse_uncompilable(text: str, file: str) -> None:
    """Errors that libcst accepts but Python's compiler (and so mmengine) refuses, such as a repeated
    keyword (``dict(backbone=..., backbone=...)``). Compiling runs none of the file's code."""
    try:
        compile(text, file, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise InputError(f"invalid Python: {error.msg}", file, error.lineno or 0, error.offset or 0) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise InputError(f"invalid Python: {error}", file) from None


def _keeping_strides(
    facts: ConfigFacts, backbone: dict[str, Any], schema: dict[str, Any], outputs: ShapeResult, catalog: Any
) -> tuple[dict[str, Any], ShapeResult] | None:
    """The new backbone with ``out_indices`` chosen so that its maps come at the strides the config's
    old backbone gave (the strides its neck, anchors and heads were built for: a YOLOX neck fed at 8, 16,
    32 stays fed at 8, 16, 32), with its outputs; None when the user chose ``out_indices``, the strides
    already agree, or a schema table does not say (then the smoke-build is the judge)."""
    from otxgen.shapes import stage_table, static_outputs

    old_strides = _old_strides(facts, catalog)
    new_strides = [o.stride for o in outputs.outputs]
    if "out_indices" in backbone or outputs.tier != "static" or old_strides in (None, new_strides):
        return None
    stages = [row.get("stride") for row in stage_table(backbone, schema) or []]
    if not all(stride in stages for stride in old_strides):
        return None
    adjusted = {**backbone, "out_indices": tuple(stages.index(stride) for stride in old_strides)}
    result = static_outputs(adjusted, schema)
    return (adjusted, result) if result is not None and result.is_dense else None


def _old_strides(facts: ConfigFacts, catalog: Any) -> list[int] | None:
    """The output strides of the backbone a config has now, from its schema's table (no torch). A
    stage's stride depends on the arch option and ``out_indices``, not on width or depth multipliers,
    so those may differ from the table's; arguments that do move strides (``strides``, ``dilations``,
    ``output_stride``...) make the answer unknown."""
    from otxgen.shapes import stage_table
    from otxgen.validate.backbones import infer_library, resolve_type

    model = facts.get("model")
    old = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(old, dict) or not isinstance(old.get("type"), str):
        return None
    if any("stride" in key or "dilation" in key for key in old):
        return None
    resolved = resolve_type(old["type"], infer_library(facts, model), catalog)
    if resolved.type is None:
        return None
    schema = catalog.schema(resolved.type)
    stages = stage_table(old, schema) or []
    indices = old.get("out_indices", (schema["x-otxgen"]["channels"] or {}).get("default_out_indices"))
    if isinstance(indices, int):
        indices = [indices]
    if not isinstance(indices, (list, tuple)) or not all(
        isinstance(i, int) and -len(stages) <= i < len(stages) for i in indices
    ):
        return None
    strides = [stages[i].get("stride") for i in indices]
    return strides if all(isinstance(s, int) for s in strides) else None


def _as_config_value(
    facts: ConfigFacts, backbone: dict[str, Any], schema: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The backbone as this config should spell it: the type unscoped when the config's own library
    registers it (unless the config already spells it scoped: a build adds ``custom_imports``, which
    then names the library, and a second build must not unscope the type), else scoped, with the
    registering module for ``custom_imports``."""
    from otxgen.validate.backbones import infer_library

    model = facts.get("model")
    model = model if isinstance(model, dict) else {}
    library = infer_library(facts, model)
    meta = schema["x-otxgen"]
    value = {key: _tuple_lists(key, val) for key, val in backbone.items()}
    if meta["library"] != library:
        return value, [meta["custom_import"]]
    old = model.get("backbone")
    if not (isinstance(old, dict) and old.get("type") == backbone["type"]):
        value["type"] = meta["name"]
    return value, []


def _tuple_lists(key: str, value: Any) -> Any:
    """YAML has no tuples; mm configs spell index and size sequences as tuples."""
    return tuple(value) if isinstance(value, list) and key.endswith(("indices", "_size", "strides")) else value
