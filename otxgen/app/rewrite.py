"""One model config's rewrite for ``build --backbone``: the new backbone as this config spells it, the
strides its neck was built for kept, and the codemods run in one pass. Reads, never executes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otxgen import fsio
from otxgen.app import Say
from otxgen.errors import InputError

if TYPE_CHECKING:  # imported lazily: only needed once a backbone is known
    from otxgen.app.weights import Weights
    from otxgen.config.model_config import ConfigFacts


@dataclass(frozen=True)
class Rewrite:
    path: Path
    before: str
    after: str
    backbone: dict[str, Any]  # the one requested, as this config gets it (its own value kept where otxgen filled one)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def rewrite_config(
    path: Path,
    backbone: dict[str, Any],
    schema: dict[str, Any],
    catalog: Any,
    target: str | None,
    say: Say,
    weights: Weights | None = None,
    filled: frozenset[str] = frozenset(),
) -> Rewrite:
    """The new text of one model config, planned from its merged view (``_base_`` chain read, never
    executed) and checked by validate before anything is written: build never writes what validate
    rejects. ``filled``: the arguments of ``backbone`` otxgen gave their starting value (``plan_swap``)."""
    from codemods.errors import CodemodError
    from codemods.pipeline import Swap, swap_backbone
    from otxgen.app.plan import plan_swap, planned_view, written

    before = fsio.read_text(path)
    bases = _base_files()
    merged = _merged(before, str(path), bases)  # its reader compiles the text first: what Python refuses
    for where, note in merged.notes:
        say(f"[*] {where.file}:{where.line}:{where.col}: {note}")
    plan = plan_swap(merged, backbone, schema, catalog, target, weights, filled)
    channels = [int(o.channels or 0) for o in plan.outputs.outputs]
    strides = [o.stride for o in plan.outputs.outputs]
    say(f"[*] {path.name}: backbone outputs ({plan.outputs.tier}): channels {channels}, strides {strides}")
    for note in plan.notes:
        say(f"[!] {path.name}: {note}")
    for fact in plan.facts:
        say(f"[*] {path.name}: {fact}")
    to_write, overrides = written(plan, merged, target, schema)
    try:
        swap = Swap(
            to_write,
            overrides=overrides,
            all_imports=plan.imports,
            drop_empty_imports=plan.drop_empty_imports,
            target=target,
            backbone_inherited=plan.backbone_inherited,
        )
        after = swap_backbone(before, swap)
    except CodemodError as error:
        raise InputError(error.message, str(path), error.line, error.col) from None
    _check_plan(planned_view(merged, plan, target), catalog)
    return Rewrite(path, before, after, {**backbone, **plan.kept})


def _base_files() -> Any:
    from otxgen.config.inherit import BaseFiles

    return BaseFiles(_read_base)


def _read_base(relative: str) -> str:
    return fsio.read_text(Path(relative))  # a BOM stays: mmengine refuses it, and so does the reader


def _merged(text: str, file: str, bases: Any) -> ConfigFacts:
    """The config merged over its ``_base_`` chain; a chain that cannot be followed is a refusal."""
    from otxgen.config.inherit import inherit
    from otxgen.config.model_config import read_config

    facts = read_config(text, file)
    if facts.read_base:
        raise InputError("read_base() imports are not followed statically; use _base_ = [...]", file)
    if not (facts.bases or ("_base_",) in facts.names.unresolved):
        return facts
    merged = inherit(facts, bases)
    if isinstance(merged, str):
        raise InputError(f"cannot read the _base_ chain statically: {merged}", file)
    if merged.refused:  # mmengine does not load it: there is no model to swap the backbone of
        where, why = merged.refused[0]
        raise InputError(why, where.file, where.line, where.col)
    return merged


def _check_plan(planned: ConfigFacts, catalog: Any) -> None:
    """validate's own check on the plan's merged view (what the written file loads to; no text is read
    again); an error there is a refusal naming it."""
    from otxgen.validate.files import check_merged

    errors = [f for f in check_merged(planned, catalog) if f.severity == "error"]
    if errors:
        first = errors[0]
        what = f"{first.path}: {first.message}" if first.path else first.message
        message = f"otxgen would write what validate rejects ({what}); nothing written"
        raise InputError(message, first.where.file, first.where.line, first.where.col)
