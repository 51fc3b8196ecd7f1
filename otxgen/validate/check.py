"""A backbone mapping + its JSON Schema -> findings with positions; neck/head channels vs the schema's
channel table. Pure: the schema, index and values come in as data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from otxgen.config.located import Finding, JsonPath, Located, dotted
from otxgen.facts.words import did_you_mean
from otxgen.validate.conforms import conforms

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

CANNOT = "cannot check statically"


def _python_integer(_checker: object, value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@cache
def _validator_class() -> type[Validator]:
    """Draft 2020-12, where 3.0 is no integer: a backbone does not count it one (``out_indices=(0, 3.0)``
    indexes a list). Imported on the first value ``conforms`` cannot prove valid."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _python_integer)
    return validators.extend(Draft202012Validator, type_checker=checker)  # type: ignore[no-any-return,no-untyped-call]


_VALUE_PRIORITY = {"enum": 0, "const": 1, "anyOf": 2, "oneOf": 2, "type": 3}


def check_backbone(instance: dict[str, Any], located: Located, base: JsonPath, schema: dict[str, Any]) -> list[Finding]:
    """Every schema error of ``instance`` (the backbone mapping found at ``base`` in ``located``)."""
    findings = list(_unresolved_notes(located, base))
    if not conforms(schema, instance):
        errors = _validator_class()(schema).iter_errors(as_json(instance))
        findings += _findings(errors, located, base, schema)
    said = {finding.path for finding in findings}  # a value of the wrong type needs no range as well
    ranges = [
        *_out_of_range(instance, located, base, schema),
        *_no_channels(instance, located, base),
        *_norm_layers(instance, located, base),
    ]
    findings += [finding for finding in ranges if not any(_within(path, finding.path) for path in said)]
    return sorted(findings, key=lambda f: (f.where.line, f.where.col, f.path))


def _within(path: str, argument: str) -> bool:
    """Whether the dotted ``path`` is ``argument`` or inside it (``strides[1]`` in ``strides``)."""
    return path == argument or path.startswith((f"{argument}[", f"{argument}."))


def _out_of_range(instance: dict[str, Any], located: Located, base: JsonPath, schema: dict[str, Any]) -> list[Finding]:
    """``out_indices`` and ``frozen_stages`` beyond the stages the schema's table gives for these
    arguments (the backbone would assert, fail on a missing layer, or silently give fewer maps). Only
    where the table applies to the other arguments: an argument that changes the stages leaves the count
    unknown, and nothing is said."""
    from otxgen.schema.table import ChannelTable, Unknown

    table = ChannelTable(schema)
    stages = table.stages(instance)
    others = {key: value for key, value in instance.items() if key not in ("out_indices", "frozen_stages")}
    title = schema.get("title", "this backbone")
    findings: list[Finding] = []
    if stages and "num_stages" in schema.get("properties", {}):  # ResNet, MiT...: the count is an argument
        count, findings = _per_stage(instance, located, base, schema, len(stages))
    elif not stages or isinstance(table.outputs(others), Unknown):
        return []
    else:
        count = len(stages)
    if count is None:
        return findings
    raw = instance.get("out_indices")
    listed = isinstance(raw, (list, tuple))
    indices: list[Any] = list(raw) if isinstance(raw, (list, tuple)) else [] if raw is None else [raw]
    blocks = table.timm_blocks()
    counted = f"{count} stages here" if not blocks else f"{count} levels here: its blocks {', '.join(map(str, blocks))}"
    for position, index in enumerate(indices):
        path = (*base, "out_indices", *((position,) if listed else ()))
        if not _integer(index):
            message = f"out_indices {index!r} is not a stage number ({title} has {counted}, numbered from 0)"
            findings.append(Finding(located.where(path), dotted(path), message, code="stage-range"))
        elif not -count <= index < count:
            message = f"out_indices {index} is out of range 0..{count - 1} ({title} has {counted})"
            if blocks:
                message += "; out_indices counts these levels, not timm's blocks"
            findings.append(Finding(located.where(path), dotted(path), message, code="stage-range"))
    frozen = instance.get("frozen_stages")
    if isinstance(frozen, int) and _integer(frozen) and not -1 <= frozen <= count:
        path = (*base, "frozen_stages")
        message = (
            f"frozen_stages {frozen} is out of range -1..{count} ({title} has {count} stages here; "
            "-1 freezes nothing, 0 the stem, k the stem and k stages)"
        )
        findings.append(Finding(located.where(path), dotted(path), message, code="stage-range"))
    return findings


_NOT_PER_STAGE = ("out_indices", "init_cfg")


def _per_stage(
    instance: dict[str, Any], located: Located, base: JsonPath, schema: dict[str, Any], built: int
) -> tuple[int | None, list[Finding]]:
    """For a backbone whose stage count is its ``num_stages`` argument (the arch or depth builds
    ``built`` stages): the count, and what the backbone would assert: ``num_stages`` beyond 1..built,
    and an argument of one value a stage (its default has ``built`` scalars: ``strides``,
    ``dilations``, ``stage_with_dcn``...) of another length than ``num_stages``. The count is None
    where ``num_stages`` is not a plain integer."""
    properties = schema["properties"]
    count = instance.get("num_stages", properties["num_stages"].get("default"))
    if not _integer(count):
        return None, []
    title = schema.get("title", "this backbone")
    findings: list[Finding] = []
    if not 1 <= count <= built:
        path = (*base, "num_stages")
        message = f"num_stages {count} is out of range 1..{built} ({title} has {built} stages here)"
        return None, [Finding(located.where(path), dotted(path), message, code="stage-range")]
    per_stage = [
        name
        for name, prop in properties.items()
        if name not in _NOT_PER_STAGE
        and isinstance(prop.get("default"), list)
        and len(prop["default"]) == built
        and not any(isinstance(item, (dict, list)) for item in prop["default"])
    ]
    for name in per_stage:
        value = instance.get(name, properties[name]["default"])
        if not isinstance(value, (list, tuple)) or len(value) == count:
            continue
        given = name in instance
        path = (*base, name) if given else (*base, "num_stages")
        what = f"{name} has {len(value)} values" if given else f"the default {name} has {len(value)} values"
        if len(value) < count:  # a stage without its value: the backbone asserts or fails indexing it
            message = f"{what}, one a stage, and num_stages is {count}"
            findings.append(Finding(located.where(path), dotted(path), message, code="stage-range"))
        elif given:  # ResNet asserts for strides and dilations, indexes stage_with_dcn: not an error everywhere
            message = f"{what}, one a stage, and num_stages is {count}: {title} may assert they agree"
            findings.append(Finding(located.where(path), dotted(path), message, "warning", code="stage-range"))
    return count, findings


def _norm_layers(instance: dict[str, Any], located: Located, base: JsonPath) -> list[Finding]:
    """A normalisation config (``norm_cfg``, ``...norm_cfg``) of a layer mmcv builds only with more keys
    than ``type`` (``GN`` needs ``num_groups``)."""
    from otxgen.facts.arguments import NORM_REQUIRES

    findings = []
    for key, value in instance.items():
        kind = value.get("type") if key.endswith("norm_cfg") and isinstance(value, dict) else None
        missing = [name for name in NORM_REQUIRES.get(kind, ()) if name not in value] if isinstance(kind, str) else []
        if missing:
            path = (*base, key)
            message = f"{kind} needs {', '.join(missing)} (mmcv builds it from them): e.g. {key}=dict(type='{kind}', "
            message += ", ".join(f"{name}=32" for name in missing) + ")"
            findings.append(Finding(located.where(path), dotted(path), message, code="norm"))
    return findings


def _no_channels(instance: dict[str, Any], located: Located, base: JsonPath) -> list[Finding]:
    """A channel count (an argument named ``...channels``) below 1: no layer can have it."""
    findings = []
    for key, value in instance.items():
        if (key == "channels" or key.endswith("_channels")) and _integer(value) and value < 1:
            path = (*base, key)
            findings.append(
                Finding(
                    located.where(path),
                    dotted(path),
                    f"{key} {value} is not a channel count (at least 1)",
                    code="channel-count",
                )
            )
    return findings


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_json(value: Any) -> Any:
    """Tuples are JSON arrays (``out_indices=(0, 1)`` in a config); jsonschema wants lists for ``array``."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    return value


def _unresolved_notes(located: Located, base: JsonPath) -> Iterator[Finding]:
    for path, code in sorted(located.unresolved.items(), key=lambda item: str(item[0])):
        if path[: len(base)] == base and len(path) > len(base):
            yield Finding(located.where(path), dotted(path), f"{CANNOT}: {code!s}", "note", code="cannot-check")


def _findings(
    errors: Iterable[ValidationError], located: Located, base: JsonPath, schema: dict[str, Any]
) -> list[Finding]:
    found: list[Finding] = []
    best: dict[JsonPath, ValidationError] = {}
    for error in errors:
        path = (*base, *error.absolute_path)
        if error.validator == "additionalProperties":
            found += _extra_keys(error, path, located, base, schema)
        elif error.validator == "required":
            found += _missing_keys(error, path, located)
        elif path not in best or _rank(error) < _rank(best[path]):
            best[path] = error
    for path, error in best.items():
        found.append(Finding(located.where(path), dotted(path), _message(error), code="schema"))
    return list({(f.path, f.message): f for f in found}.values())


def _rank(error: ValidationError) -> int:
    return _VALUE_PRIORITY.get(str(error.validator), 4)


def _message(error: ValidationError) -> str:
    """jsonschema's message, made specific for ``anyOf``/``oneOf`` (which otherwise says 'not valid under any')."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error.message
    shallow = [e for e in error.context if not e.relative_path]
    if shallow and all(e.validator == "type" for e in shallow) and len(shallow) == len(error.context):
        kinds = [
            k
            for e in shallow
            for k in (e.validator_value if isinstance(e.validator_value, list) else [e.validator_value])
        ]
        return f"{error.instance!r} is not of type " + " or ".join(repr(k) for k in dict.fromkeys(kinds))
    from jsonschema.exceptions import best_match

    # A branch whose type matched failed deeper: its error says more than "not of type 'null'".
    deeper = [e for e in error.context if e.validator != "type"] or error.context
    deepest = best_match(deeper)
    return deepest.message if deepest is not None else error.message


def _extra_keys(
    error: ValidationError, path: JsonPath, located: Located, base: JsonPath, schema: dict[str, Any]
) -> list[Finding]:
    subschema = error.schema if isinstance(error.schema, dict) else {}
    known = subschema.get("properties", {})
    patterns = subschema.get("patternProperties", {})
    instance = error.instance if isinstance(error.instance, dict) else {}
    extras = [key for key in instance if key not in known and not any(re.search(p, key) for p in patterns)]
    title = schema.get("title", "this backbone")
    findings = []
    for key in extras:
        what = f"{title} has no argument {key!r}" if path == base else f"unexpected key {key!r}"
        findings.append(
            Finding(
                located.where((*path, key), key=True),
                dotted((*path, key)),
                what + did_you_mean(key, known),
                code="unknown-argument",
            )
        )
    return findings


def _missing_keys(error: ValidationError, path: JsonPath, located: Located) -> list[Finding]:
    required = error.validator_value if isinstance(error.validator_value, list) else []
    return [
        Finding(located.where(path, key=True), dotted(path), f"{name!r} is a required property", code="required")
        for name in required
        if isinstance(error.instance, dict) and name not in error.instance and (*path, name) not in located.unresolved
    ]


def backbone_outputs(backbone: dict[str, Any], schema: dict[str, Any], catalog: Any = None) -> list[int] | str:
    """Output channels per feature map from the schema's table (or, for a TIMMBackbone, the table of the
    timm model it wraps), or why that is unknown."""
    from otxgen.schema.table import ChannelTable, Unknown

    rows = ChannelTable.of(backbone, schema, catalog).outputs(backbone)
    if isinstance(rows, Unknown):
        return rows.reason
    return [int(row["channels"]) for row in rows]


def backbone_ndim(backbone: dict[str, Any], schema: dict[str, Any], catalog: Any = None) -> int | None:
    """How many dimensions the backbone's last output has (4: maps, 2: pooled vectors), from the schema's
    table; None where unknown."""
    from otxgen.schema.table import ChannelTable, Unknown

    rows = ChannelTable.of(backbone, schema, catalog).outputs(backbone)
    return None if isinstance(rows, Unknown) or not rows else int(rows[-1].get("ndim") or 4)


def backbone_container(backbone: dict[str, Any], schema: dict[str, Any], catalog: Any = None) -> str | None:
    """The form the backbone returns its outputs in, from the schema's table; None where unknown."""
    from otxgen.schema.table import ChannelTable, Unknown

    table = ChannelTable.of(backbone, schema, catalog)
    rows = table.outputs(backbone)
    return None if isinstance(rows, Unknown) else table.container(rows)
