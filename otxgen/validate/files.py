"""One file's text -> findings: ``backbone.yaml`` files and model configs. Pure given a ``Catalog``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from otxgen.config.inherit import inherit, read_any
from otxgen.config.located import Finding, JsonPath, Located, Where, dotted
from otxgen.facts.consumers import READER_KEYS, READING_KEYS, paired_head, unpooled_head
from otxgen.facts.optimizers import optimizer_misfit
from otxgen.schema.resolve import Catalog, resolve_type
from otxgen.validate.backbones import custom_modules, infer_library, registry_problem
from otxgen.validate.channels import check_consumers, check_container
from otxgen.validate.check import CANNOT, backbone_container, backbone_ndim, backbone_outputs, check_backbone
from otxgen.validate.weights import weights_findings

if TYPE_CHECKING:
    from otxgen.config.inherit import BaseFiles
    from otxgen.config.model_config import ConfigFacts

FRAGMENT = "a part of a _base_ chain (no model type, or an empty backbone): checked where a config inherits it"
YAML_HINT = "expected 'backbone:' with a mapping such as {type: mmdet.ResNet, depth: 50}"


def validate_backbone_yaml(text: str, file: str, catalog: Catalog) -> list[Finding]:
    """A ``backbone.yaml``: its ``backbone:`` mapping against the schema of its ``type``."""
    from otxgen.config.yamlpos import load_located  # YAML is imported where a YAML file is read

    located = load_located(text, file, literal=True)  # its values are written into configs as literals
    if "backbone" not in located.value:
        return [Finding(Where(file, 1, 1), "", f"no 'backbone' key; {YAML_HINT}", code="no-backbone")]
    backbone = located.value["backbone"]
    if isinstance(backbone, dict) and "_delete_" in backbone:  # a merge rule of configs, not an argument
        path = ("backbone", "_delete_")
        why = "_delete_ belongs in a model config (build adds it where a base defines the backbone), not here"
        return [Finding(located.where(path, key=True), dotted(path), why, code="delete-in-backbone-yaml")]
    others = [
        Finding(
            located.where((key,), key=True),
            str(key),
            f"a backbone.yaml holds 'backbone' alone: {key!r} is not read (build writes the backbone, and the "
            "necks and heads follow from its outputs); move it into the model config",
            code="unknown-key",
        )
        for key in located.value
        if key != "backbone"
    ]
    return _placed([*others, *_check(located, ("backbone",), None, catalog, [])[0]], file)


def validate_backbone_mapping(backbone: dict[str, Any], catalog: Catalog) -> list[Finding]:
    """What ``validate_backbone_yaml`` finds in a backbone.yaml holding ``backbone`` (the schema's check),
    for a mapping no file holds (``build --backbone TYPE`` with no backbone.yaml to write): no positions."""
    return _check(Located({"backbone": backbone}), ("backbone",), None, catalog, [])[0]


def validate_model_config(text: str, file: str, catalog: Catalog, bases: BaseFiles | None = None) -> list[Finding]:
    """A model config: ``model.backbone`` against its schema, then neck/head channels against its table.

    With ``bases`` (which reads the base files), the ``_base_`` chain is merged in first, statically;
    without it, or when the chain cannot be followed, what may come from ``_base_`` is a note.
    """
    facts = read_any(file, text)
    unfollowed: list[Finding] = []
    reason = "not followed"
    if bases is not None and (facts.bases or ("_base_",) in facts.names.unresolved):
        merged = inherit(facts, bases)
        if isinstance(merged, str):
            unfollowed = [_note(facts.names, ("_base_",), f"{CANNOT}: {merged}")]
        else:
            facts, reason = merged, ""
    undefined = _undefined(facts)
    named = {finding.where for finding in undefined}  # its "cannot check statically: nan" says less
    findings = [f for f in _model_findings(facts, catalog, reason) if f.severity == "error" or f.where not in named]
    findings = _unsure(findings, facts)
    chain = [*_chain_notes(facts), *_unsure(_refused(facts), facts)]
    findings = _placed([*findings, *unfollowed, *_opaque_notes(facts), *chain, *undefined], file)
    return sorted(findings, key=lambda f: (f.where.file != file, f.where.file, f.where.line, f.where.col, f.path))


def check_merged(facts: ConfigFacts, catalog: Catalog) -> list[Finding]:
    """validate's checks of the model on a merged view as it is given (build's planned view: the config's
    chain with the plan applied), without reading any text; names nothing defines stay errors."""
    return [*_model_findings(facts, catalog, ""), *_undefined(facts)]


def _unsure(findings: list[Finding], facts: ConfigFacts) -> list[Finding]:
    """The model's findings where a statement changes the model after its definition (``opaque``): the
    check read the definition, not what runs (``model['neck']['in_channels'] += [2048]`` makes the
    definition's three channels four), so an error there is a note (said with the statement's note)."""
    if not facts.opaque:
        return findings
    changed = f"{facts.opaque[0].code!r} changes the model after its definition"
    return [
        replace(f, severity="note", message=f"{f.message} (as defined; {changed})") if f.severity == "error" else f
        for f in findings
    ]


def _placed(findings: list[Finding], file: str) -> list[Finding]:
    """Every finding names a file: one about the whole file (no key to point at) is at its line 1."""
    return [f if f.where.file else replace(f, where=Where(file, f.where.line or 1, f.where.col or 1)) for f in findings]


def _undefined(facts: ConfigFacts) -> list[Finding]:
    """What stops mmengine's run of the file: a name nothing defines, a key its own value lacks."""
    why = "is not defined: mmengine executes the config and would stop with a NameError"
    if not facts.undefined and not facts.failing:
        return []
    paths = {where: path for path, where in facts.names.values.items()}  # the value the name stands for
    return [
        *(
            Finding(where, dotted(paths.get(where, ())), f"name {name!r} {why}", code="undefined-name")
            for where, name in facts.undefined
        ),
        *(Finding(where, "", message, code="fails-when-run") for where, message in facts.failing),
    ]


def _opaque_notes(facts: ConfigFacts) -> list[Finding]:
    """Statements that change the model after its definition: what is checked may not be what runs."""
    return [
        Finding(
            o.where,
            "model",
            f"{CANNOT}: {o.code!r} {o.why} (the check reads the definition)",
            "note",
            code="not-followed",
        )
        for o in facts.opaque
    ]


def _refused(facts: ConfigFacts) -> list[Finding]:
    """What mmengine refuses as it merges the config over its chain: the config does not load."""
    paths = {where: path for path, where in facts.names.values.items()}
    return [Finding(where, dotted(paths.get(where, ())), why, code="merge-refused") for where, why in facts.refused]


def _chain_notes(facts: ConfigFacts) -> list[Finding]:
    """How the ``_base_`` chain was read where mmengine would not read it (OTX 1.x bases)."""
    return [Finding(where, "_base_", note, "note", code="base-chain") for where, note in facts.notes]


def _model_findings(facts: ConfigFacts, catalog: Catalog, reason: str) -> list[Finding]:
    """``reason``: why ``_base_`` was not followed, ``""`` when ``facts`` is already merged over it."""
    located = facts.names
    for path in (("model",), ("model", "backbone")):
        if path in located.unresolved:
            return [_note(located, path, f"{CANNOT}: {dotted(path)} is {located.unresolved[path]}")]
    model = facts.get("model")
    if not isinstance(model, dict) or "backbone" not in model:
        why = "no model.backbone here or in its _base_ files" if facts.bases else "no model.backbone here"
        why = f"the model comes from _base_ ({reason})" if facts.bases and reason else why
        why = "read_base() imports are not followed" if facts.read_base else why
        return [_note(located, ("model",) if model is not None else (), f"{CANNOT}: {why}")]
    backbone = model["backbone"]
    inherits = bool(reason) and bool(facts.bases) and not (isinstance(backbone, dict) and backbone.get("_delete_"))
    if inherits and isinstance(backbone, dict) and "type" not in backbone:
        why = f"{CANNOT}: the backbone type comes from _base_ ({reason})"
        return [_note(located, ("model", "backbone"), why)]
    # No model type: a part of a chain (an OTX 1.x backbone base), whole only where a config inherits it.
    # An empty backbone=dict() is a placeholder another base of the chain fills in (OTX 1.x recipes).
    fragment = "type" not in model or backbone == {}
    if fragment and isinstance(backbone, dict) and "type" not in backbone:
        return [_note(located, ("model", "backbone"), f"{CANNOT}: {FRAGMENT}")]
    library = infer_library(facts, model)
    findings, checked = _check(located, ("model", "backbone"), library, catalog, custom_modules(facts), fragment)
    findings += _registry_findings(facts, backbone)
    unread = next((p for p in located.unresolved if _reads_unread(p)), None)
    if unread is not None:
        return [*findings, _note(located, unread, f"{CANNOT}: {dotted(unread)} is {located.unresolved[unread]}")]
    if checked is not None:
        instance, schema = checked
        findings += check_consumers(model, located, ("model",), backbone_outputs(instance, schema, catalog))
        findings += check_container(model, located, ("model",), backbone_container(instance, schema, catalog))
        findings += _paired(model, located, instance["type"])
        findings += _unpooled(model, located, backbone_ndim(instance, schema, catalog))
        findings += _optimizer(located, instance["type"], library)
        findings += weights_findings(model, located, instance, schema, library)
    return _without_required(findings, located, reason) if inherits else findings


def _reads_unread(path: JsonPath) -> bool:
    """A reader of the backbone's outputs, or what it reads (``in_channels``, ``in_index``...), given by an
    expression the view does not compute: the consumers cannot be checked (build refuses to swap it)."""
    reader = len(path) >= 2 and path[0] == "model" and path[1] in READER_KEYS
    return reader and (len(path) == 2 or path[-1] in READING_KEYS)


def _check(
    located: Located, path: JsonPath, library: str | None, catalog: Catalog, custom: list[str], fragment: bool = False
) -> tuple[list[Finding], tuple[dict[str, Any], dict[str, Any]] | None]:
    """Schema findings for the backbone at ``path``, and (backbone, schema) when a schema was found.
    ``fragment``: the file is part of a chain, so a type it cannot place is placed by the config that
    inherits it (a note here)."""
    backbone = located.value
    for part in path:
        backbone = backbone[part]
    if path in located.unresolved:
        return [_note(located, path, f"{CANNOT}: {located.unresolved[path]}")], None
    if not isinstance(backbone, dict):
        message = f"{backbone!r} is not a mapping; {YAML_HINT}"
        return [Finding(located.where(path), dotted(path), message, code="not-a-mapping")], None
    raw = backbone.get("type")
    if not isinstance(raw, str):
        return [_type_problem(located, path, raw)], None
    resolved = resolve_type(raw, library, catalog, custom)
    if resolved.type is None:
        where = located.where((*path, "type"))
        if fragment and not resolved.is_note:
            message = f"{CANNOT}: {resolved.problem} ({FRAGMENT})"
            return [Finding(where, dotted((*path, "type")), message, "note", code="cannot-check")], None
        return [
            Finding(
                where, dotted((*path, "type")), resolved.problem, "note" if resolved.is_note else "error", code="type"
            )
        ], None
    schema = catalog.schema(resolved.type)
    instance = {key: value for key, value in backbone.items() if key != "_delete_"}
    instance["type"] = resolved.type
    return check_backbone(instance, located, path, schema), (instance, schema)


def _paired(model: dict[str, Any], located: Located, backbone_type: str) -> list[Finding]:
    paired = paired_head(model, backbone_type)
    if paired is None:
        return []
    path = ("model", *paired[0], "type")
    return [Finding(located.where(path), dotted(path), paired[1], code="paired-head")]


def _unpooled(model: dict[str, Any], located: Located, ndim: int | None) -> list[Finding]:
    why = unpooled_head(model, ndim) if "decode_head" not in model else None
    if why is None:
        return []
    path = ("model", "head", "type")
    return [
        Finding(
            located.where(path), dotted(path), f"{why}; add neck=dict(type='GlobalAveragePooling')", code="unpooled"
        )
    ]


def _optimizer(located: Located, backbone_type: str, library: str | None) -> list[Finding]:
    misfit = optimizer_misfit(located.value, backbone_type, library)
    if misfit is None:
        return []
    path = ("optim_wrapper", "constructor")
    return [Finding(located.where(path), dotted(path), misfit.message, code="optimizer")]


def _registry_findings(facts: ConfigFacts, backbone: Any) -> list[Finding]:
    raw = backbone.get("type") if isinstance(backbone, dict) else None
    problem = registry_problem(raw, facts) if isinstance(raw, str) else None
    path = ("model", "backbone", "type")
    return [Finding(facts.names.where(path), dotted(path), problem, code="registry")] if problem else []


def _type_problem(located: Located, path: JsonPath, raw: Any) -> Finding:
    type_path = (*path, "type")
    if type_path in located.unresolved:
        return _note(located, type_path, f"{CANNOT}: type is {located.unresolved[type_path]}")
    if raw is None and type_path not in located.keys:
        return Finding(located.where(path, key=True), dotted(path), "'type' is a required property", code="required")
    return Finding(located.where(type_path), dotted(type_path), f"{raw!r} is not of type 'string'", code="schema")


def _without_required(findings: list[Finding], located: Located, reason: str) -> list[Finding]:
    """With ``_base_`` (not followed) and no ``_delete_``, missing arguments may come from the base."""
    kept = [f for f in findings if not f.message.endswith("is a required property")]
    if len(kept) < len(findings):
        note = f"{CANNOT}: required arguments may come from _base_ ({reason})"
        kept.append(_note(located, ("model", "backbone"), note))
    return kept


def _note(located: Located, path: JsonPath, message: str) -> Finding:
    return Finding(located.where(path), dotted(path), message, "note", code="cannot-check")
