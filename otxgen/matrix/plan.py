"""The cells a ``matrix`` command asks for: the listed backbones (a library or a type each) x the
templates (each with its checks), at each backbone's default arch (required arguments at their first
option, as ``build --backbone TYPE`` writes them, or at the first example of the library's shipped
configs where there are no options) or at every combination of options
(``--all-options``). Reads the committed schema index and the shipped templates; no torch."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from importlib import metadata
from typing import Any

from otxgen.errors import UsageError
from otxgen.libraries import LIBRARIES, resolve_library
from otxgen.matrix.cells import CHECKS, Cell, with_prerequisites
from otxgen.workspace import Template, list_templates, workspace_contents

# The distribution each library comes in (its version is part of a cell's key).
DISTRIBUTIONS = {
    "mmdet": "mmdet",
    "mmseg": "mmsegmentation",
    "mmpretrain": "mmpretrain",
    "torchvision": "torchvision",
    "pytorchcv": "pytorchcv",
    "timm": "timm",
}
TEMPLATE_LIBRARY = {"classification": "mmpretrain", "segmentation": "mmseg"}  # else mmdet


@dataclass(frozen=True)
class TemplateChecks:
    template: Template
    checks: tuple[str, ...]


def parse_checks(text: str) -> tuple[str, ...]:
    """``'static,build'`` -> the checks with what they need, in running order; unknown ones refused."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CHECKS]
    if unknown or not names:
        raise UsageError(f"unknown check(s) {', '.join(unknown) or '(none given)'}; checks: {', '.join(CHECKS)}")
    return with_prerequisites(names)


def choose_templates(specs: tuple[str, ...], checks: tuple[str, ...]) -> list[TemplateChecks]:
    """``ID`` or ``ID:CHECKS`` (checks of that template only, e.g. ``detection-retinanet-r50:static``);
    none given: every shipped template with ``checks``."""
    templates = {template.id: template for template in list_templates()}
    if not specs:
        return [TemplateChecks(template, checks) for template in templates.values()]
    chosen = []
    for spec in specs:
        template_id, colon, own = spec.partition(":")
        if template_id not in templates:
            hint = get_close_matches(template_id, list(templates), n=1)
            known = f"did you mean {hint[0]!r}?" if hint else f"templates: {', '.join(templates)}"
            raise UsageError(f"--template {spec}: no template {template_id!r}; {known}")
        chosen.append(TemplateChecks(templates[template_id], parse_checks(own) if colon else checks))
    return chosen


def choose_backbones(selectors: tuple[str, ...]) -> list[dict[str, Any]]:
    """Index entries for ``LIB`` or ``TYPE`` selectors (none: every listed backbone), libraries in
    ``LIBRARIES`` order, each entry once."""
    from otxgen.schema.store import load_index

    entries = sorted(load_index()["backbones"], key=lambda e: (LIBRARIES.index(e["library"]), e["type"]))
    if not selectors:
        return entries
    by_type = {entry["type"]: entry for entry in entries}
    chosen: dict[str, dict[str, Any]] = {}
    for selector in selectors:
        if "." not in selector:
            library = resolve_library(selector)
            chosen.update((e["type"], e) for e in entries if e["library"] == library)
            continue
        entry = by_type.get(selector) or by_type.get(_canonical_type(selector))
        if entry is None:
            hint = get_close_matches(selector, list(by_type), n=1)
            raise UsageError(
                f"--backbone {selector}: not a listed backbone" + (f" (did you mean {hint[0]}?)" if hint else "")
            )
        chosen[entry["type"]] = entry
    return list(chosen.values())


def _canonical_type(selector: str) -> str:
    prefix, _, name = selector.rpartition(".")
    return f"{resolve_library(prefix)}.{name}"


def arch_choices(entry: dict[str, Any], all_options: bool) -> list[tuple[dict[str, Any], bool]]:
    """The arguments of each cell of a backbone, and whether they are its default arch: each required
    argument's starting value (``starting_arguments``: its first option, or the library's most used
    shipped configuration of it; None where there is neither: the cell needs input), or with
    ``all_options`` every combination of options."""
    required: dict[str, list[Any]] = entry["required_args"]
    default = _starting(entry["type"]) if required else {}
    if not all_options or not required:
        return [(default, True)]
    names = list(required)
    combos = itertools.product(*[required[name] or [default[name]] for name in names])
    return [(dict(zip(names, combo, strict=True)), dict(zip(names, combo, strict=True)) == default) for combo in combos]


def _starting(backbone_type: str) -> dict[str, Any]:
    from otxgen.schema.store import load_schema, starting_arguments

    return starting_arguments(load_schema(backbone_type))


def plan_cells(
    selectors: tuple[str, ...], template_specs: tuple[str, ...], checks: tuple[str, ...], all_options: bool
) -> list[Cell]:
    """Backbone-major: every template of a backbone before the next backbone."""
    templates = choose_templates(template_specs, checks)
    cells = []
    for entry in choose_backbones(selectors):
        for args, default in arch_choices(entry, all_options):
            for chosen in templates:
                versions = cell_versions(entry["library"], chosen.template)
                template = chosen.template
                cells.append(Cell(entry["type"], args, template.id, template.task, chosen.checks, default, versions))
    return cells


def cell_versions(library: str, template: Template) -> dict[str, str]:
    """What a cell's result depends on besides its arguments: otxgen, torch, the backbone's and the
    template's libraries (as installed), and the template's files."""
    template_library = TEMPLATE_LIBRARY.get(template.task, "mmdet")
    names = ("otxgen", "torch", DISTRIBUTIONS[library], DISTRIBUTIONS[template_library])
    versions = {name: installed_version(name) for name in names}
    versions["template"] = template_fingerprint(template.id)
    return versions


@cache
def installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@cache
def template_fingerprint(template_id: str) -> str:
    template = next(t for t in list_templates() if t.id == template_id)
    contents = workspace_contents(template)
    text = "\0".join(f"{name}\0{contents[name]}" for name in sorted(contents))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
