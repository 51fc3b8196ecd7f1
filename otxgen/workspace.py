"""Workspace templates shipped in the package, and ``build --task``: lay a workspace out from one.

A template is a folder ``otxgen/templates/<id>/`` holding ``template.yaml`` (id, task, name, backbone,
description, default) and the files a workspace gets: ``model*.py`` (every one is a model config that
``build --backbone`` rewrites) and ``data_pipeline.py``. The workspace also gets ``data.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from otxgen.errors import InputError, UsageError

WORKSPACE_MARKER = "template.yaml"
MODEL_GLOB = "model*.py"


@dataclass(frozen=True)
class Template:
    id: str
    task: str
    name: str
    backbone: str
    description: str
    default: bool
    folder: Traversable

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "task", "name", "backbone", "description", "default")}

    def workspace_files(self) -> list[str]:
        """The template's files a workspace gets, ``template.yaml`` first, then sorted."""
        names = sorted(f.name for f in self.folder.iterdir() if f.is_file() and not f.name.startswith("_"))
        return [WORKSPACE_MARKER] + [n for n in names if n.endswith(".py")]


def list_templates() -> list[Template]:
    """Every shipped template, ordered by task then id (defaults first within a task)."""
    root = files("otxgen") / "templates"
    templates = [_load_template(folder) for folder in root.iterdir() if (folder / WORKSPACE_MARKER).is_file()]
    return sorted(templates, key=lambda t: (t.task, not t.default, t.id))


def _load_template(folder: Traversable) -> Template:
    import yaml  # a template is read when a workspace is made, not when one is built

    meta = yaml.safe_load((folder / WORKSPACE_MARKER).read_text(encoding="utf-8"))
    fields = ("id", "task", "name", "backbone", "description")
    return Template(**{k: str(meta[k]) for k in fields}, default=bool(meta.get("default")), folder=folder)


def pick_template(task: str, template_id: str | None) -> Template:
    """The template ``template_id`` (which must serve ``task``), or the task's default template."""
    candidates = [t for t in list_templates() if t.task == task]
    if template_id is None:
        defaults = [t for t in candidates if t.default]
        if not defaults:
            raise UsageError(f"no default template for task {task!r}")
        return defaults[0]
    for template in candidates:
        if template.id == template_id:
            return template
    known = ", ".join(t.id for t in candidates)
    raise UsageError(f"no template {template_id!r} for task {task!r}; templates for it: {known}")


def workspace_contents(template: Template) -> dict[str, str]:
    """File name -> text of a new workspace: the template's files, then ``data.yaml``."""
    contents = {name: (template.folder / name).read_text(encoding="utf-8") for name in template.workspace_files()}
    contents["data.yaml"] = data_yaml(template.task)
    return contents


def check_new_workspace(workspace: Path, names: list[str]) -> None:
    """Refuse to lay a workspace out over an existing one, over a file, or over any file it would write."""
    if workspace.exists() and not workspace.is_dir():
        raise InputError("exists and is not a folder", str(workspace))
    if (workspace / WORKSPACE_MARKER).exists():
        raise UsageError(f"{workspace}: a workspace is already there; choose another --workspace")
    existing = [name for name in names if (workspace / name).exists() or (workspace / name).is_symlink()]
    if existing:
        raise UsageError(f"{workspace}: would overwrite {', '.join(existing)}; choose a new or empty --workspace")


def default_workspace_name(task: str) -> str:
    return f"otx-workspace-{task.upper()}"


def data_yaml(task: str) -> str:
    """The dataset description a workspace starts with: paths the user fills in for their data."""
    kind = {"classification": "imagenet", "segmentation": "common_semantic_segmentation"}.get(task, "coco")
    splits = "".join(f"  {split}:\n    ann-files: null\n    data-roots: null\n" for split in ("train", "val", "test"))
    return (
        f"# Dataset for this {task} workspace: set the folders (and annotation files) of each split.\n"
        f"# Format: {kind}-style layout.\ndata:\n{splits}"
    )


def workspace_model_files(workspace: Path) -> list[Path]:
    """The model configs of a workspace (every ``model*.py`` beside its ``template.yaml``)."""
    if not workspace.is_dir():
        raise InputError("no such workspace folder", str(workspace))
    if not (workspace / WORKSPACE_MARKER).is_file():
        raise InputError(
            f"not a workspace (no {WORKSPACE_MARKER}); run 'otxgen build --task TASK' or pass --model FILE",
            str(workspace),
        )
    models = sorted(workspace.glob(MODEL_GLOB))
    if not models:
        raise InputError("workspace has no model*.py", str(workspace))
    return models
