"""The backbone mapping of ``build --backbone``: from ``TYPE`` (required arguments at their first option,
``--set`` applied, written to ``backbone.yaml``) or from a ``backbone.yaml``, validated against its schema."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otxgen import fsio
from otxgen.app import Say
from otxgen.errors import InputError, UsageError

BACKBONE_YAML = "backbone.yaml"
# Where a backbone.yaml's folder keeps the schema its ``$schema`` line names (``.otxgen/schemas/mmdet/
# RegNet.json``): a path that holds wherever the folder is committed, cloned or checked by CI, for an
# editor without otxgen (yaml-language-server resolves it against the file), offline.
SCHEMA_COPIES = ".otxgen/schemas"


@dataclass(frozen=True)
class Chosen:
    """``build --backbone TYPE``'s backbone and the ``backbone.yaml`` text for each folder it goes in
    (its ``$schema`` names the folder's copy of the schema, ``schema_copy``). ``missing``: required
    arguments without options, which the user must fill in (``backbone`` is then ``None``: only the
    files are written)."""

    type: str
    backbone: dict[str, Any] | None
    files: tuple[tuple[Path, str], ...]
    missing: tuple[str, ...] = ()
    filled: frozenset[str] = frozenset()  # required arguments at their starting value, not given with --set


def backbone_from_type(
    backbone_type: str,
    overrides: tuple[tuple[str, str], ...],
    catalog: Any,
    yamls: tuple[Path, ...],
    say: Say,
    models: tuple[Path, ...] = (),
) -> Chosen:
    """The mapping for ``TYPE`` (required args at their first option, ``--set`` applied) and the text
    of each backbone.yaml in ``yamls``. Writes nothing."""
    from otxgen.libraries import split_type
    from otxgen.schema.resolve import CANNOT_PREFIX, resolve_type
    from otxgen.schema.store import starting_arguments

    settings = _parse_overrides(overrides)
    library, name = split_type(backbone_type)
    resolved = resolve_type(f"{library}.{name}", library, catalog)
    if resolved.type is None:
        raise UsageError(resolved.problem.removeprefix(CANNOT_PREFIX).strip())
    schema = catalog.schema(resolved.type)
    meta = schema["x-otxgen"]
    backbone = _recorded(yamls, resolved.type, catalog, say) or _with_required(resolved.type, schema, say)
    if yamls and len(backbone) == 1 + len(meta["required_args"]):  # no record: the workspace's model's own
        backbone |= _required_of_models(models, resolved.type, list(meta["required_args"]), catalog, say)
    properties = schema["properties"]
    _apply_overrides(backbone, settings, properties)
    missing = tuple(arg for arg, value in backbone.items() if value is None and arg in meta["required_args"])
    origin = (meta.get("examples_from") or [None])[0]
    if origin is not None:  # a shipped config's whole backbone: what it sets beyond what is written
        shipped = starting_arguments(schema)
        examples = {arg: value for arg, value in shipped.items() if backbone.get(arg) != value}
    else:
        examples = {arg: properties[arg]["examples"][0] for arg in missing if properties[arg].get("examples")}
    text = render_backbone_yaml(backbone, schema_ref(resolved.type), examples, origin) if yamls else None
    files = tuple((path, text) for path in yamls if text is not None)
    if missing:
        return Chosen(resolved.type, None, files, missing)
    _raise_on_findings(text, BACKBONE_YAML, catalog, generated=True, mapping=backbone)
    filled = frozenset(meta["required_args"]) - {path[0] for path, _ in settings}
    return Chosen(resolved.type, backbone, files, filled=filled)


def say_missing(chosen: Chosen, written: Path | None, say: Say) -> None:
    """The ``[!]`` lines for arguments the user must enter; ``written``: the backbone.yaml written to edit
    (``--backbone-yaml PATH`` names it)."""
    say(f"[!] {chosen.type} backbone has inputs that the user must enter.")
    if written is not None:
        shown = written.resolve().relative_to(Path.cwd()) if written.resolve().is_relative_to(Path.cwd()) else written
        say(f"[!] Edit {shown} and run 'otxgen build --backbone {shown}'.")
    elif chosen.files:
        say(f"[!] Run without --diff/--check to write {BACKBONE_YAML}, edit it, then build from it.")
    else:
        say(f"[!] Give them with --set KEY=VALUE, or write a {BACKBONE_YAML} and build from it.")
    where = schema_copy(chosen.files[0][0], chosen.type)[0] if written else _installed_schema(chosen.type)
    say(f"[!] Missing: {', '.join(chosen.missing)} (the schema {where} shows the expected shape)")
    from otxgen.schema.store import load_schema, starting_arguments

    schema = load_schema(chosen.type)
    origin = (schema["x-otxgen"].get("examples_from") or [None])[0]
    if origin is not None and not written:  # a backbone.yaml written holds it as comments
        shipped = starting_arguments(schema)  # the whole backbone: its parts are made for each other
        given = " ".join(f"--set '{arg}={json.dumps(value)}'" for arg, value in shipped.items())
        say(f"[!] As {origin} sets it, with the rest of its backbone: {given}")
    elif not written:  # the schema's own example of each (HRNet-W18's ``extra``)
        examples = {
            arg: schema["properties"][arg]["examples"][0]
            for arg in chosen.missing
            if schema["properties"].get(arg, {}).get("examples")
        }
        if examples:
            given = " ".join(f"--set '{arg}={json.dumps(value)}'" for arg, value in examples.items())
            say(f"[!] For example (the schema's): {given}")


def _recorded(yamls: tuple[Path, ...], backbone_type: str, catalog: Any, say: Say) -> dict[str, Any] | None:
    """The backbone the ``backbone.yaml`` to write already records, where it is of ``backbone_type``: a
    build of the type it names (``--set frozen_stages=2``) changes that record (its ``depth: 101`` stays),
    not a fresh one at the required arguments' first options. None where there is none to read."""
    from otxgen.schema.resolve import resolve_type
    from otxgen.validate.files import validate_backbone_yaml

    for path in yamls:
        if not path.exists():
            continue
        from otxgen.config.yamlpos import load_located  # YAML is imported where a YAML file is read

        text = fsio.read_text(path)
        why = (
            f"(the backbone.yaml this build would rewrite, the record of the workspace's backbone: fix it, or "
            f"remove it to start from {backbone_type}'s defaults)"
        )
        try:
            errors = [f for f in validate_backbone_yaml(text, str(path), catalog) if f.severity == "error"]
        except InputError as error:  # not YAML: it would be overwritten, and what it says lost
            raise InputError(f"{error.cause} {why}", error.path, error.line, error.col) from None
        if errors:
            first = errors[0]
            raise InputError(f"{first.message} {why}", first.where.file, first.where.line, first.where.col)
        recorded = load_located(text, str(path), literal=True).value.get("backbone")
        if isinstance(recorded, dict) and resolve_type(str(recorded.get("type")), None, catalog).type == backbone_type:
            say(f"[*] Backbone Config: {backbone_type} (as {path.name} records it; --set changes it)")
            return {**recorded, "type": backbone_type}
    return None


def _required_of_models(
    models: tuple[Path, ...], backbone_type: str, required: list[str], catalog: Any, say: Say
) -> dict[str, Any]:
    """The required arguments a workspace's model config already gives a backbone of ``backbone_type``
    (its ResNet's ``depth=101``), read over its ``_base_`` chain: a build of the type the model has keeps
    them, where no ``backbone.yaml`` records them."""
    from otxgen.config.inherit import BaseFiles, inherit, read_any
    from otxgen.schema.resolve import resolve_type
    from otxgen.validate.backbones import infer_library

    for model in models:
        try:
            facts = read_any(str(model), fsio.read_text(model))
            merged = inherit(facts, BaseFiles(lambda base: fsio.read_text(Path(base)))) if facts.bases else facts
        except (OSError, InputError):
            continue
        if isinstance(merged, str):  # a chain it cannot follow: nothing read
            continue
        host = merged.get("model")
        backbone = host.get("backbone") if isinstance(host, dict) else None
        if not isinstance(host, dict) or not isinstance(backbone, dict):
            continue
        library = infer_library(merged, host, from_imports=False)
        if resolve_type(str(backbone.get("type")), library, catalog).type != backbone_type:
            continue
        kept = {key: backbone[key] for key in required if key in backbone}
        if kept:
            said = ", ".join(f"{key}={value!r}" for key, value in kept.items())
            say(f"[*] {model.name} has a {backbone_type} already: {said} kept from it (--set changes them)")
        return kept
    return {}


def _with_required(backbone_type: str, schema: dict[str, Any], say: Say) -> dict[str, Any]:
    """``{type, required args}``, each with options at its starting value (the first option, or the
    shipped configs' where they give the others: ``starting_arguments``); one without options is
    ``None``, for the user to enter. Tells the user."""
    from otxgen.schema.store import starting_arguments

    say(f"[*] Backbone Config: {backbone_type}")
    meta = schema["x-otxgen"]
    required: dict[str, list[Any]] = meta["required_args"]
    if required:
        say(f"[*] {backbone_type} requires the argument : {list(required)}")
        say(f"[*] Please refer to {meta['source']}")
    starting = starting_arguments(schema)
    backbone: dict[str, Any] = {"type": backbone_type}
    for arg, choices in required.items():
        backbone[arg] = starting.get(arg) if choices else None
        if choices:
            say(f"[*] '{arg}' can choose between: {choices}")
            say(f"[*] '{arg}' default value: {backbone[arg]}")
    return backbone


def backbone_from_yaml(path: Path, overrides: tuple[tuple[str, str], ...], catalog: Any, say: Say) -> dict[str, Any]:
    from otxgen.config.yamlpos import load_located
    from otxgen.schema.resolve import CANNOT_PREFIX, resolve_type

    if overrides:
        raise UsageError("--set applies to 'build --backbone TYPE'; edit the yaml file instead")
    text = fsio.read_text(path)
    _raise_on_findings(text, str(path), catalog, generated=False)
    located = load_located(text, str(path), literal=True)
    backbone: dict[str, Any] = dict(located.value["backbone"])
    resolved = resolve_type(str(backbone["type"]), None, catalog)
    if resolved.type is None:  # a note for validate ("cannot check statically"), a dead end for build
        where = located.where(("backbone", "type"))
        problem = resolved.problem.removeprefix(CANNOT_PREFIX).strip()
        raise InputError(f"backbone.type: {problem}", str(path), where.line, where.col)
    backbone["type"] = resolved.type
    say(f"[*] Backbone Config: {resolved.type} (from {path})")
    return backbone


def _raise_on_findings(
    text: str | None, file: str, catalog: Any, *, generated: bool, mapping: dict[str, Any] | None = None
) -> None:
    """The schema's errors as one line: for a file, at the first error's position; for a generated
    ``backbone.yaml`` (``TYPE`` and ``--set``), naming the arguments since the file does not exist yet.
    Without a ``text`` (no file to write: ``--model`` alone), the ``mapping`` is checked as the file's
    would be, with no YAML to write or read."""
    from otxgen.validate.files import validate_backbone_mapping, validate_backbone_yaml

    findings = validate_backbone_yaml(text, file, catalog) if text is not None else []
    if text is None and mapping is not None:
        findings = validate_backbone_mapping(mapping, catalog)
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return
    details = "; ".join(f"{f.path}: {f.message}" if f.path else f.message for f in errors)
    if generated:
        raise UsageError(f"invalid backbone arguments (check --set): {details}")
    first = errors[0].where
    raise InputError(details, file, first.line, first.col)


def _parse_overrides(overrides: tuple[tuple[str, str], ...]) -> list[tuple[list[str], Any]]:
    """``--set depth=50 --set norm_cfg.type=GN`` -> ``[(['depth'], 50), (['norm_cfg', 'type'], 'GN')]``:
    YAML values, held to backbone.yaml's rules (no dates, sets, nan...: a config cannot spell them as
    literals), and a Python tuple as one (``out_indices=(1,2,3)``); a dotted key names a key inside an
    argument's mapping."""
    if not overrides:
        return []
    from otxgen.config.yamlpos import load_value  # YAML is imported where a value is read as YAML

    parsed = []
    for key, raw in overrides:
        path = key.split(".")
        if not all(part.isidentifier() for part in path) or path[0] == "type":
            raise UsageError(
                f"--set {key}={raw}: KEY must be an argument name, or a dotted path into one "
                "(norm_cfg.type=GN); the type is what --backbone names"
            )
        try:
            value = load_value(raw, f"--set {key}")
        except InputError as error:
            raise UsageError(f"--set {key}={raw}: {error.cause}") from None
        parsed.append((path, _python_tuple(value) if isinstance(value, str) else value))
    return parsed


def _python_tuple(text: str) -> object:
    """A Python tuple literal as configs write one (``(1, 2, 3)``, which YAML reads as text), as the
    tuple it spells; any other text as it is."""
    import ast

    if not (text.startswith("(") and text.endswith(")")):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, tuple) else text


def _apply_overrides(
    backbone: dict[str, Any], settings: list[tuple[list[str], Any]], properties: dict[str, Any]
) -> None:
    """Each setting into ``backbone``; a dotted one changes one key of the argument's mapping as the
    backbone has it, else as the schema's default gives it (``norm_cfg.type=GN`` keeps
    ``requires_grad``), as mmengine merges a nested dict."""
    import copy

    for path, value in settings:
        if len(path) == 1:
            backbone[path[0]] = value
            continue
        first = path[0]
        current = backbone.get(first, properties.get(first, {}).get("default"))
        into = backbone[first] = copy.deepcopy(current) if isinstance(current, dict) else {}
        for part in path[1:-1]:
            inner = into.get(part)
            into[part] = inner if isinstance(inner, dict) else {}
            into = into[part]
        into[path[-1]] = value


def schema_ref(backbone_type: str) -> str:
    """A backbone.yaml's ``$schema``: its folder's copy of the schema, relative to the file."""
    from otxgen.schema.store import schema_path

    return f"{SCHEMA_COPIES}/{schema_path(backbone_type)}"


def schema_copy(backbone_yaml: Path, backbone_type: str) -> tuple[Path, str]:
    """The copy of the schema that ``backbone_yaml``'s ``$schema`` line names: its path and its text."""
    from otxgen.schema.store import schema_text

    return backbone_yaml.parent.joinpath(*schema_ref(backbone_type).split("/")), schema_text(backbone_type)


def _installed_schema(backbone_type: str) -> str:
    from otxgen.schema.store import schema_path, schemas_root

    return str(schemas_root().joinpath(*schema_path(backbone_type).split("/")))


def render_backbone_yaml(
    backbone: dict[str, Any], schema_ref: str, examples: dict[str, Any] | None = None, origin: str | None = None
) -> str:
    """Block mappings (one argument a line, easy to edit), flow lists of scalars (``[0, 1, 2, 3]``);
    ``examples`` (for arguments the user must fill in) follow as comments, ready to uncomment, with the
    shipped config they come from (``origin``) when there is one; an argument to fill in that has one is
    left out of the mapping, so that uncommenting it is all there is to do."""
    body = _dump({"backbone": {k: v for k, v in backbone.items() if v is not None or k not in (examples or {})}})
    if examples and origin:
        missing = ", ".join(repr(arg) for arg, value in backbone.items() if value is None)
        body += f"# {missing} must be filled in; as {origin} sets it, with the rest of its backbone:\n"
        return f"{SCHEMA_LINE}{schema_ref}\n{body}" + "".join(f"#   {line}\n" for line in _dump(examples).splitlines())
    for arg, example in (examples or {}).items():
        lines = _dump({arg: example}).splitlines()
        body += f"# {arg!r} must be filled in; an example from the schema:\n"
        body += "".join(f"#   {line}\n" for line in lines)
    return f"{SCHEMA_LINE}{schema_ref}\n{body}"


SCHEMA_LINE = "# yaml-language-server: $schema="


def same_backbone_yaml(one: str, other: str) -> bool:
    """Whether two backbone.yaml texts say the same, whatever their ``$schema`` lines: before the folder
    kept its own copy of the schema, the line pointed at the schema from where otxgen was installed, so
    a file committed then from another clone holds another line, and that is no change (nor are line
    endings, which a checkout may convert)."""

    def rest(text: str) -> list[str]:
        lines = text.splitlines()
        return lines[1:] if lines and lines[0].startswith(SCHEMA_LINE) else lines

    return rest(one) == rest(other)


def _dump(data: dict[str, Any]) -> str:
    import yaml  # imported when a backbone.yaml is written: a swap of --model alone writes none

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False)


@functools.cache
def _dumper() -> Any:
    import yaml

    class BackboneDumper(yaml.SafeDumper):
        def represent_list(self, data: Any) -> yaml.SequenceNode:
            flat = all(not isinstance(item, (dict, list, tuple)) for item in data)
            return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

    BackboneDumper.add_representer(list, BackboneDumper.represent_list)
    BackboneDumper.add_representer(tuple, BackboneDumper.represent_list)
    return BackboneDumper
