"""``otxgen build``: lay out a workspace (``--task``), or swap the backbone of model configs (``--backbone``).

``build --backbone`` never executes a config: it reads configs with libcst, rewrites them with the
``codemods`` package, and gets the new backbone's channels from the schema's static table (or, when
the table does not apply, from a probe that builds the backbone alone). Only the smoke-build at the end
(skipped with ``--no-smoke``, ``--diff`` and ``--check``) executes the rewritten config.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from otxgen import fsio
from otxgen.app import Outcome, Say
from otxgen.app.backbone_yaml import backbone_from_type, backbone_from_yaml
from otxgen.app.rewrite import Rewrite, rewrite_config
from otxgen.errors import InputError, UsageError
from otxgen.options import BuildBackboneOptions, BuildTaskOptions, SmokeOptions

if TYPE_CHECKING:  # both import lazily: a --task build needs neither
    pass


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
        return [self.home, *(fsio.resolve(model).parent for model in self.models)]


def build_backbone(options: BuildBackboneOptions, say: Say) -> Outcome:
    """Read and check everything first; write (``backbone.yaml`` and the changed configs) only at the
    end, all under the folder locks, so that a refusal or an error leaves every file as it was."""
    targets = _targets(options)
    if options.mode != "write":
        return _build_backbone(options, targets, say)
    with fsio.folder_locks(targets.folders):
        return _build_backbone(options, targets, say)


def _build_backbone(options: BuildBackboneOptions, targets: Targets, say: Say) -> Outcome:
    from otxgen.schema.store import StoreCatalog

    catalog = StoreCatalog()
    backbone_yaml: tuple[Path, str] | None = None
    if _is_yaml_file(options.backbone):
        backbone = backbone_from_yaml(Path(options.backbone), options.overrides, catalog, say)
    else:
        chosen = backbone_from_type(options.backbone, options.overrides, catalog, targets.home, options.mode, say)
        if chosen is None:
            return Outcome(exit_code=1)
        backbone, backbone_yaml = chosen
    schema = catalog.schema(backbone["type"])
    say("[*] Update model configs with backbone.yaml")
    rewrites = [rewrite_config(path, backbone, schema, catalog, options.target, say) for path in targets.models]
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
        targets = Targets(Path.cwd(), options.models)
    else:
        workspace = options.workspace or Path.cwd()
        targets = Targets(workspace, tuple(workspace_model_files(workspace)))
    for model in targets.models:  # a FIFO would block the read, a symlink loop never ends
        fsio.require_regular_file(model)
    return targets


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
        for rewrite in rewrites:
            say(f"[!] Would change: {rewrite.path}" if rewrite.changed else f"[*] Up to date: {rewrite.path}")
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
        return str(fsio.resolve(path).relative_to(Path.cwd().resolve()))
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
