"""``otxgen build``: lay out a workspace (``--task``), or swap the backbone of model configs (``--backbone``).

``build --backbone`` never executes a config: it reads configs with libcst, rewrites them with the
``codemods`` package, and gets the new backbone's channels from the schema's static table (or, when
the table does not apply, from a probe that builds the backbone alone). Only the smoke-build at the end
(skipped with ``--no-smoke``, ``--diff`` and ``--check``) executes the rewritten config.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from otxgen import fsio
from otxgen.app import Outcome, Say
from otxgen.errors import FindingsError, InputError, UsageError
from otxgen.options import BuildBackboneOptions, BuildTaskOptions, SmokeOptions

if TYPE_CHECKING:  # both import lazily: a --task build needs neither
    from otxgen.shapes import ShapeResult
    from otxgen.validate.model_config import ConfigFacts

BACKBONE_YAML = "backbone.yaml"


def build_task(options: BuildTaskOptions, say: Say) -> Outcome:
    """Lay a workspace out from a template; refuses to overwrite any file that is already there."""
    from otxgen.workspace import check_new_workspace, default_workspace_name, pick_template, workspace_contents

    template = pick_template(options.task, options.template)
    workspace = options.workspace or Path(default_workspace_name(options.task))
    contents = workspace_contents(template)
    check_new_workspace(workspace, list(contents))
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder: {error.strerror or error}", str(workspace)) from None
    say(f"[*] Workspace Path: {workspace}")
    say(f"[*] Load Model Template ID: {template.id}")
    say(f"[*] Load Model Name: {template.name}")
    with fsio.folder_lock(workspace):
        check_new_workspace(workspace, list(contents))  # again, now that no other otxgen can write here
        fsio.write_all_atomic([(workspace / name, text) for name, text in contents.items()])
    for name in contents:
        say(f"[*]     - Updated: {workspace / name}")
    return Outcome()


@dataclass(frozen=True)
class Targets:
    """Where ``backbone.yaml`` lives (``home``) and the model configs to rewrite."""

    home: Path
    models: tuple[Path, ...]

    @property
    def folders(self) -> list[Path]:
        """The folders a build writes in (their locks keep a second build out until this one ends)."""
        return [self.home, *(model.resolve().parent for model in self.models)]


@dataclass(frozen=True)
class Rewrite:
    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def build_backbone(options: BuildBackboneOptions, say: Say) -> Outcome:
    """Read and check everything first; write (``backbone.yaml`` and the changed configs) only at the
    end, all under the folder locks, so that a refusal or an error leaves every file as it was."""
    targets = _targets(options)
    if options.mode != "write":
        return _build_backbone(options, targets, say)
    with fsio.folder_locks(targets.folders):
        return _build_backbone(options, targets, say)


def _build_backbone(options: BuildBackboneOptions, targets: Targets, say: Say) -> Outcome:
    from otxgen.app.validate import StoreCatalog

    catalog = StoreCatalog()
    backbone_yaml: tuple[Path, str] | None = None
    if _is_yaml_file(options.backbone):
        backbone = _backbone_from_yaml(Path(options.backbone), options.overrides, catalog, say)
    else:
        chosen = _backbone_from_type(options.backbone, options.overrides, catalog, targets, options.mode, say)
        if chosen is None:
            return Outcome(exit_code=1)
        backbone, backbone_yaml = chosen
    schema = catalog.schema(backbone["type"])
    say("[*] Update model configs with backbone.yaml")
    outputs = _backbone_outputs(backbone, say)
    rewrites = [_rewrite(path, backbone, schema, outputs, catalog, options.target, say) for path in targets.models]
    for rewrite in rewrites:
        say(f"Target Model: {rewrite.path}")
    say(f"Target Backbone: {backbone['type']}")
    say(f"Backbone config: {backbone}")
    return _finish(rewrites, backbone_yaml, options, targets, say)


def _is_yaml_file(backbone: str) -> bool:
    return backbone.endswith((".yaml", ".yml")) or "/" in backbone or Path(backbone).is_file()


def _targets(options: BuildBackboneOptions) -> Targets:
    from otxgen.workspace import workspace_model_files

    if options.models:
        if options.workspace:
            raise UsageError("--workspace and --model exclude each other")
        for model in options.models:
            if not model.is_file():
                raise InputError("no such file" if not model.exists() else "not a file", str(model))
        return Targets(Path.cwd(), options.models)
    workspace = options.workspace or Path.cwd()
    return Targets(workspace, tuple(workspace_model_files(workspace)))


# -- the backbone mapping ---------------------------------------------------------------------------


def _backbone_from_type(
    backbone_type: str,
    overrides: tuple[tuple[str, str], ...],
    catalog: Any,
    targets: Targets,
    mode: str,
    say: Say,
) -> tuple[dict[str, Any], tuple[Path, str]] | None:
    """The mapping for ``TYPE`` (required args at their first option, ``--set`` applied) and the
    ``backbone.yaml`` to write; ``None`` when a required argument has no options: then ``backbone.yaml``
    is written for the user to fill in (in write mode) and nothing else is."""
    from otxgen.libraries import split_type
    from otxgen.validate.backbones import CANNOT_PREFIX, resolve_type

    settings = _parse_overrides(overrides)
    library, name = split_type(backbone_type)
    resolved = resolve_type(f"{library}.{name}", library, catalog)
    if resolved.type is None:
        raise UsageError(resolved.problem.removeprefix(CANNOT_PREFIX).strip())
    meta = catalog.schema(resolved.type)["x-otxgen"]
    backbone = _with_required(resolved.type, meta, say)
    backbone.update(settings)
    missing = [arg for arg, value in backbone.items() if value is None and arg in meta["required_args"]]
    backbone_yaml = targets.home / BACKBONE_YAML
    text = render_backbone_yaml(backbone, _schema_ref(resolved.type, targets.home))
    if missing:
        if mode == "write":
            fsio.write_text_atomic(backbone_yaml, text)
            say(f"[*] Save backbone configuration: {backbone_yaml}")
        say(f"[!] {resolved.type} backbone has inputs that the user must enter.")
        say(f"[!] Edit {BACKBONE_YAML} and run 'otxgen build --backbone {BACKBONE_YAML}'.")
        schema = _schema_ref(resolved.type, Path.cwd())
        say(f"[!] Missing: {', '.join(missing)} (the schema {schema} shows the expected shape)")
        return None
    _raise_on_findings(text, str(backbone_yaml), catalog, generated=True)
    return backbone, (backbone_yaml, text)


def _with_required(backbone_type: str, meta: dict[str, Any], say: Say) -> dict[str, Any]:
    """``{type, required args}``, each at its first option (``None`` when it has none), telling the user."""
    say(f"[*] Backbone Config: {backbone_type}")
    required: dict[str, list[Any]] = meta["required_args"]
    if required:
        say(f"[*] {backbone_type} requires the argument : {list(required)}")
        say(f"[*] Please refer to {meta['source']}")
    backbone: dict[str, Any] = {"type": backbone_type}
    for arg, choices in required.items():
        if choices:
            say(f"[*] '{arg}' can choose between: {choices}")
            say(f"[*] '{arg}' default value: {choices[0]}")
        backbone[arg] = choices[0] if choices else None
    return backbone


def _backbone_from_yaml(path: Path, overrides: tuple[tuple[str, str], ...], catalog: Any, say: Say) -> dict[str, Any]:
    from otxgen.validate.backbones import CANNOT_PREFIX, resolve_type
    from otxgen.validate.yamlpos import load_located

    if overrides:
        raise UsageError("--set applies to 'build --backbone TYPE'; edit the yaml file instead")
    text = fsio.read_text(path)
    _raise_on_findings(text, str(path), catalog, generated=False)
    located = load_located(text, str(path))
    backbone: dict[str, Any] = dict(located.value["backbone"])
    resolved = resolve_type(str(backbone["type"]), None, catalog)
    if resolved.type is None:  # a note for validate ("cannot check statically"), a dead end for build
        where = located.where(("backbone", "type"))
        problem = resolved.problem.removeprefix(CANNOT_PREFIX).strip()
        raise InputError(f"backbone.type: {problem}", str(path), where.line, where.col)
    backbone["type"] = resolved.type
    say(f"[*] Backbone Config: {resolved.type} (from {path})")
    return backbone


def _raise_on_findings(text: str, file: str, catalog: Any, *, generated: bool) -> None:
    """The schema's errors as one line: for a file, at the first error's position; for a generated
    ``backbone.yaml`` (``TYPE`` and ``--set``), naming the arguments since the file does not exist yet."""
    from otxgen.validate.files import validate_backbone_yaml

    errors = [f for f in validate_backbone_yaml(text, file, catalog) if f.severity == "error"]
    if not errors:
        return
    details = "; ".join(f"{f.path}: {f.message}" if f.path else f.message for f in errors)
    if generated:
        raise UsageError(f"invalid backbone arguments (check --set): {details}")
    first = errors[0].where
    raise InputError(details, file, first.line, first.col)


def _parse_overrides(overrides: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``--set depth=50 --set out_indices=[0,1]`` -> ``{'depth': 50, 'out_indices': [0, 1]}`` (YAML values)."""
    parsed = {}
    for key, raw in overrides:
        if not key.isidentifier() or key == "type":
            raise UsageError(f"--set {key}={raw}: KEY must be an argument name (not 'type')")
        try:
            parsed[key] = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError as error:
            raise UsageError(f"--set {key}={raw}: not a YAML value ({getattr(error, 'problem', error)})") from None
    return parsed


def _schema_ref(backbone_type: str, folder: Path) -> str:
    """Where an editor finds the schema: the installed file, relative to the backbone.yaml's folder
    (yaml-language-server resolves a relative ``$schema`` against the file), else as a file URI."""
    from otxgen.schema.store import schema_path, schemas_root

    schema = Path(str(schemas_root().joinpath(*schema_path(backbone_type).split("/"))))
    try:
        return os.path.relpath(schema, folder.resolve())
    except ValueError:  # another drive
        return schema.as_uri()


def render_backbone_yaml(backbone: dict[str, Any], schema_ref: str) -> str:
    """Block mappings (one argument a line, easy to edit), flow lists of scalars (``[0, 1, 2, 3]``)."""
    body = yaml.dump({"backbone": backbone}, Dumper=_BackboneDumper, sort_keys=False, default_flow_style=False)
    return f"# yaml-language-server: $schema={schema_ref}\n{body}"


class _BackboneDumper(yaml.SafeDumper):
    def represent_list(self, data: Any) -> yaml.SequenceNode:
        flat = all(not isinstance(item, (dict, list, tuple)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_BackboneDumper.add_representer(list, _BackboneDumper.represent_list)
_BackboneDumper.add_representer(tuple, _BackboneDumper.represent_list)


# -- the rewrite ------------------------------------------------------------------------------------


def _backbone_outputs(backbone: dict[str, Any], say: Say) -> ShapeResult:
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


def _rewrite(
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


def _finish(
    rewrites: list[Rewrite],
    backbone_yaml: tuple[Path, str] | None,
    options: BuildBackboneOptions,
    targets: Targets,
    say: Say,
) -> Outcome:
    changed = [r for r in rewrites if r.changed]
    if options.mode == "diff":
        return Outcome("".join(_diff(r) for r in changed))
    if options.mode == "check":
        for rewrite in changed:
            say(f"[!] would change: {rewrite.path}")
        return Outcome(exit_code=1 if changed else 0)
    writes = [(r.path, r.after) for r in changed]
    if backbone_yaml is not None and not fsio.holds(*backbone_yaml):
        writes.insert(0, backbone_yaml)
    fsio.write_all_atomic(writes)
    if backbone_yaml is not None:
        say(f"[*] Save backbone configuration: {backbone_yaml[0]}")
    for rewrite in rewrites:
        say(f"[*] Save model configuration: {rewrite.path}" if rewrite.changed else f"[*] Unchanged: {rewrite.path}")
    return _smoke(targets, options, say) if options.smoke else Outcome()


def _diff(rewrite: Rewrite) -> str:
    name = _display(rewrite.path)
    lines = difflib.unified_diff(
        rewrite.before.splitlines(keepends=True), rewrite.after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(lines)


def _display(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (diffs read like ``git diff``)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _smoke(targets: Targets, options: BuildBackboneOptions, say: Say) -> Outcome:
    from otxgen.app.smoke import smoke

    say("[*] Smoke-build (executes the rewritten config; skip with --no-smoke)")
    worst = Outcome()
    for model in targets.models:
        outcome = smoke(SmokeOptions(model=model), say)
        if outcome.exit_code > worst.exit_code:
            worst = outcome
        say(outcome.stdout.rstrip())
    return Outcome(exit_code=worst.exit_code)
