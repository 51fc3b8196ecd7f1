"""``otxgen find``: backbones from the committed schema index, templates from the package. No torch."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from otxgen.app import Outcome, Say
from otxgen.options import FindBackboneOptions, FindTemplateOptions

OPTIONS_WIDTH = 60


def find_backbones(options: FindBackboneOptions, say: Say) -> Outcome:
    from otxgen.libraries import LIBRARIES
    from otxgen.schema.store import load_index

    index = load_index()
    libraries = options.libraries or LIBRARIES
    rows = [b for b in index["backbones"] if b["library"] in libraries]
    if options.task:
        rows = [b for b in rows if options.task in b["tasks"]]
    excluded = [
        {"type": f"{lib}.{name}", "reason": reason}
        for lib in libraries
        for name, reason in index["libraries"].get(lib, {}).get("excluded", {}).items()
    ]
    if options.output_format == "json":
        return Outcome(json.dumps({"backbones": rows, "excluded": excluded}, indent=2) + "\n")
    say(f"[*] {len(rows)} backbones from {', '.join(libraries)}; {len(excluded)} excluded (see --format json)")
    return Outcome(render_table(["Index", "Backbone Type", "Required-Args", "Options"], _backbone_rows(rows)))


def _backbone_rows(backbones: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for number, backbone in enumerate(backbones, start=1):
        required = backbone["required_args"]
        if not required:
            rows.append([str(number), backbone["type"], "", ""])
        for position, (arg, choices) in enumerate(required.items()):
            first = position == 0
            rows.append([str(number) if first else "", backbone["type"] if first else "", arg, _options_text(choices)])
    return rows


def _options_text(choices: list[Any]) -> str:
    return ", ".join(str(c) for c in choices) if choices else "(no options: user input)"


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain text table; cells longer than ``OPTIONS_WIDTH`` wrap onto continuation lines."""
    wrapped = [[textwrap.wrap(cell, OPTIONS_WIDTH) or [""] for cell in row] for row in rows]
    widths = [len(h) for h in header]
    for row in wrapped:
        widths = [max(w, *(len(line) for line in cell)) for w, cell in zip(widths, row, strict=True)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, _line(header, widths), rule.replace("-", "=")]
    for row in wrapped:
        for depth in range(max(len(cell) for cell in row)):
            lines.append(_line([cell[depth] if depth < len(cell) else "" for cell in row], widths))
    lines.append(rule)
    return "\n".join(lines) + "\n"


def _line(cells: list[str], widths: list[int]) -> str:
    return "|" + "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "|"


def find_templates(options: FindTemplateOptions, say: Say) -> Outcome:
    from otxgen.workspace import list_templates

    templates = [t for t in list_templates() if options.task in (None, t.task)]
    if options.output_format == "json":
        return Outcome(json.dumps({"templates": [t.as_json() for t in templates]}, indent=2) + "\n")
    rows = [[t.task, t.id, t.name, t.backbone, "yes" if t.default else ""] for t in templates]
    return Outcome(render_table(["Task", "ID", "Name", "Backbone", "Default"], rows))
