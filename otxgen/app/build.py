"""``otxgen build``: lay out a workspace (``--task``), or swap the backbone of model configs (``--backbone``).

``build --backbone`` never executes a config: it reads configs with Python's own parser, rewrites
them with the ``codemods`` package (libcst), and gets the new backbone's channels from the schema's
static table (or, when the table does not apply, from a probe that builds the backbone alone). Only
the smoke-build at the end (skipped with ``--no-smoke``, ``--diff`` and ``--check``) executes the
rewritten config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from otxgen import fsio
from otxgen.app import Outcome, Say
from otxgen.app.backbone_yaml import (
    BACKBONE_YAML,
    Chosen,
    backbone_from_type,
    backbone_from_yaml,
    same_backbone_yaml,
    say_missing,
    schema_copy,
)
from otxgen.app.diff import Write, root_of, unified
from otxgen.app.rewrite import rewrite_config
from otxgen.errors import ArgumentError, FindingsError, InputError, MissingExtraError, OtxgenError, UsageError
from otxgen.options import BuildBackboneOptions, BuildTaskOptions, SmokeOptions


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
    """The model configs to rewrite and the backbone.yaml files to write (``yamls``): a workspace's own
    (its record, which follows every swap), or for ``--model`` only the one asked for with
    ``--backbone-yaml PATH`` (a file there that differs is someone's: never replaced)."""

    models: tuple[Path, ...]
    yamls: tuple[Path, ...]
    replaces_yaml: bool

    @property
    def folders(self) -> list[Path]:
        """The folders a build writes in (their locks keep a second build out until this one ends)."""
        yamls = [fsio.resolve(path).parent for path in self.yamls]  # a linked one: its target's
        return [*yamls, *(fsio.resolve(model).parent for model in self.models)]


def build_backbone(options: BuildBackboneOptions, say: Say) -> Outcome:
    """Read and check everything first; write (``backbone.yaml`` and the changed configs) only at the
    end, all under the folder locks, so that a refusal or an error leaves every file as it was."""
    targets = _targets(options)
    if options.mode != "write":
        return _build_backbone(options, targets, say)
    with fsio.folder_locks(targets.folders):
        return _build_backbone(options, targets, say)


def _build_backbone(options: BuildBackboneOptions, targets: Targets, say: Say) -> Outcome:
    planned = _planned(options, targets, say)
    if isinstance(planned, Outcome):  # a required argument without options: backbone.yaml alone
        return planned
    writes = planned
    if options.mode == "diff":  # the reader of a diff is told what it does not show
        say("[*] Nothing was built or run (--diff executes nothing): build without --diff to smoke-build the model")
    outcome = _finish(writes, options.mode, say)
    if not options.smoke or outcome.exit_code != 0:
        return outcome
    try:
        smoked = _smoke(targets, options.export, say)
    except MissingExtraError:  # no smoke-build here: the files stay as validate checked them
        raise
    except Exception:  # the config as written does not load or build, or the check itself failed (said after this)
        _undo([write for write in writes if write.changed], say)
        raise
    if smoked.exit_code == FindingsError.exit_code:  # the model as written does not fit or run
        _undo([write for write in writes if write.changed], say)
    return smoked


def planned_writes(options: BuildBackboneOptions, say: Say) -> list[Write]:
    """Every file ``build --backbone`` would write and its new text, read, planned and checked as the
    build does it, nothing written (what ``otxgen lsp`` offers as an edit). A backbone that needs a
    value the catalog has no options for is a ``UsageError``."""
    planned = _planned(options, _targets(options), say)
    if isinstance(planned, Outcome):
        raise UsageError(f"{options.backbone} needs a value for a required argument: give it with --set KEY=VALUE")
    return planned


def _planned(options: BuildBackboneOptions, targets: Targets, say: Say) -> list[Write] | Outcome:
    from otxgen.app.weights import plan_weights
    from otxgen.schema.store import StoreCatalog

    catalog = StoreCatalog()
    yaml_writes: list[Write] = []
    if _is_yaml_file(options.backbone):
        if options.no_backbone_yaml or options.backbone_yaml is not None:
            raise UsageError(
                "--backbone-yaml and --no-backbone-yaml go with --backbone TYPE; a backbone.yaml given is never written"
            )
        backbone = backbone_from_yaml(Path(options.backbone), options.overrides, catalog, say)
        source, filled = options.backbone, frozenset[str]()
    else:
        chosen = backbone_from_type(options.backbone, options.overrides, catalog, targets.yamls, say, targets.models)
        yaml_writes = [_yaml_write(path, text, targets) for path, text in chosen.files]
        yaml_writes += [_schema_write(path, chosen.type) for path, _ in chosen.files]
        if chosen.backbone is None:
            return _stop_for_input(chosen, yaml_writes, options.mode, say)
        backbone, source = chosen.backbone, BACKBONE_YAML if yaml_writes else chosen.type
        # a backbone.yaml written is the record of what the models get (a workspace's): all of it, as it says
        filled = frozenset[str]() if yaml_writes else chosen.filled
    schema = catalog.schema(backbone["type"])
    folders = [fsio.resolve(model).parent for model in targets.models]
    try:
        weights = plan_weights(options.weights, backbone, schema, Path.cwd(), folders)
    except ArgumentError as error:
        raise _where_given(error, options) from None
    for note in weights.notes:
        say(f"[!] {note}")
    for fact in weights.facts:
        say(f"[*] {fact}")
    say(f"[*] Update model configs with {source}")
    try:
        rewrites = [
            rewrite_config(path, backbone, schema, catalog, options.target, say, weights, filled)
            for path in targets.models
        ]
    except ArgumentError as error:
        raise _where_given(error, options) from None
    for rewrite in rewrites:
        say(f"Target Model: {rewrite.path}")
    say(f"Target Backbone: {backbone['type']}")
    given = [rewrite.backbone for rewrite in rewrites]
    if all(one == given[0] for one in given[1:]):
        say(f"Backbone config: {given[0] if given else backbone}")
    else:  # a value otxgen fills in yields to each config's own in a swap to its type
        for rewrite in rewrites:
            say(f"Backbone config ({rewrite.path.name}): {rewrite.backbone}")
    return [*yaml_writes, *(Write(r.path, r.before, r.after) for r in rewrites)]


def _undo(changed: list[Write], say: Say) -> None:
    """The files a build wrote, back as they were before it (a file created is removed); one edited
    since it was written is an error naming it, and nothing is undone."""
    fsio.write_all_atomic(
        [(write.path, write.before) for write in changed if write.before is not None],
        {write.path: write.after for write in changed},
    )
    for write in changed:
        if write.before is None:
            fsio.remove_created(write.path, write.after)
    names = ", ".join(str(write.path) for write in changed)
    say(f"[!] The model does not build or run as written (above): back as they were: {names}")
    say("[!] Fix the cause, or build with --no-smoke to write it anyway")


def _where_given(error: ArgumentError, options: BuildBackboneOptions) -> OtxgenError:
    """``error`` at the place its argument was given: its backbone.yaml line, or its ``--set``."""
    from otxgen.config.yamlpos import load_located

    if _is_yaml_file(options.backbone):
        path = Path(options.backbone)
        located = load_located(fsio.read_text(path), str(path), literal=True)
        where = located.where(("backbone", error.argument))
        return InputError(error.cause, str(path), where.line, where.col)
    given = next((f"{key}={raw}" for key, raw in options.overrides if key.split(".")[0] == error.argument), None)
    return UsageError(f"--set {given}: {error.cause}") if given else error


def _is_yaml_file(backbone: str) -> bool:
    return backbone.endswith((".yaml", ".yml")) or "/" in backbone or Path(backbone).is_file()


def _targets(options: BuildBackboneOptions) -> Targets:
    if options.models:
        if options.workspace:
            raise UsageError("--workspace and --model exclude each other")
        models, default, replaces = options.models, None, False
    else:
        from otxgen.workspace import workspace_model_files  # a workspace's: a --model build does not import it

        workspace = options.workspace or Path.cwd()
        models, default, replaces = tuple(workspace_model_files(workspace)), workspace / BACKBONE_YAML, True
    for model in models:  # a FIFO would block the read, a symlink loop never ends
        fsio.require_regular_file(model)
    chosen = options.backbone_yaml or default
    if options.no_backbone_yaml and options.backbone_yaml is not None:
        raise UsageError("--backbone-yaml and --no-backbone-yaml exclude each other")
    replaces = replaces and options.backbone_yaml is None
    return Targets(models, () if options.no_backbone_yaml or chosen is None else (chosen,), replaces)


def _schema_write(backbone_yaml: Path, backbone_type: str) -> Write:
    """The copy of the schema that ``backbone_yaml`` names, beside it (refreshed when otxgen's differs)."""
    path, text = schema_copy(backbone_yaml, backbone_type)
    before = fsio.read_text(path) if path.exists() or path.is_symlink() else None
    return Write(path, before, text, "schema")


def _yaml_write(path: Path, text: str, targets: Targets) -> Write:
    """``backbone.yaml`` as planned; one that differs beside a ``--model`` is refused, not replaced."""
    before = fsio.read_text(path) if path.exists() or path.is_symlink() else None
    if before is not None and same_backbone_yaml(before, text):
        return Write(path, before, before, "backbone")  # another clone's $schema line: kept as it is
    if before is not None and not targets.replaces_yaml:
        raise InputError(
            "exists and differs from the one this build would write; build from it (--backbone "
            f"{path}), move it away, or give --backbone-yaml another path",
            str(path),
        )
    return Write(path, before, text, "backbone")


def _stop_for_input(chosen: Chosen, writes: list[Write], mode: str, say: Say) -> Outcome:
    """A required argument has no options: only ``backbone.yaml`` is written, for the user to fill in."""
    outcome = _finish(writes, mode, say)
    written = next((write.path for write in writes if write.kind == "backbone"), None) if mode == "write" else None
    say_missing(chosen, written, say=say)
    return Outcome(outcome.stdout, exit_code=1)


def _finish(writes: list[Write], mode: str, say: Say) -> Outcome:
    """Write, diff or check ``writes``. A copy of a schema is written with the rest, and is never a
    change a diff shows or a check reports: it is the schema otxgen ships, kept for editors."""
    changed = [write for write in writes if write.changed]
    configs = [write for write in writes if write.kind != "schema"]
    if mode == "diff":
        return Outcome(_diff([write for write in configs if write.changed], say))
    if mode == "check":
        for write in configs:
            say(f"[!] Would change: {write.path}" if write.changed else f"[*] Up to date: {write.path}")
        return Outcome(exit_code=1 if any(write.changed for write in configs) else 0)
    read = {write.path: write.before for write in changed}
    fsio.write_all_atomic([(write.path, write.after) for write in changed], read, folders=True)
    for write in writes:
        if write.kind == "schema":
            if write.changed:
                say(f"[*] Save the schema an editor reads for it: {write.path}")
            continue
        saved = "backbone" if write.kind == "backbone" else "model"
        say(f"[*] Save {saved} configuration: {write.path}" if write.changed else f"[*] Unchanged: {write.path}")
    return Outcome()


def _diff(changed: list[Write], say: Say) -> str:
    here = Path.cwd()
    root = root_of(changed, here)
    if root != fsio.resolve(here):
        say(f"[*] The diff names files outside this folder: its paths are relative to {root}")
        say(f"[*] Apply it (or undo the build) from here with: patch -p1 -d {root} (add -R to undo)")
    return unified(changed, root)


def _smoke(targets: Targets, export: str | None, say: Say) -> Outcome:
    from otxgen.app.smoke import smoke

    say("[*] Smoke-build (executes the rewritten config; skip with --no-smoke)")
    worst = Outcome()
    for model in targets.models:
        outcome = smoke(SmokeOptions(model=model, export=export), say)
        if outcome.exit_code > worst.exit_code:
            worst = outcome
        say(outcome.stdout.rstrip())
    return Outcome(exit_code=worst.exit_code)
