"""``otxgen find``: backbones from the committed schema index, templates from the package. No torch."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from typing import Any

from otxgen.app import Outcome, Say
from otxgen.errors import UsageError
from otxgen.options import FindBackboneOptions, FindTemplateOptions

OPTIONS_WIDTH = 60


SORT_KEYS = ("params", "flops", "top1")
_HEADER = ["Index", "Backbone Type", "Arch", "Params (M)", "GFLOPs", "Top-1", "Weights", "Required-Args", "Options"]


def find_backbones(options: FindBackboneOptions, say: Say) -> Outcome:
    from otxgen.libraries import LIBRARIES
    from otxgen.schema.store import load_index

    index = load_index()
    libraries = options.libraries or LIBRARIES
    rows = [b for b in index["backbones"] if b["library"] in libraries]
    if options.task:
        rows = [b for b in rows if options.task in b["tasks"]]
    verified = _verified(options.task) if options.task else None
    if options.verified_only:
        if verified is None:
            raise UsageError("--verified-only needs --task: cells are verified in the task's default template")
        rows = [b for b in rows if b["type"] in verified and verified[b["type"]].passed]
    deploys = _deploys(options.task) if options.task else None
    if options.deployable_only:
        if deploys is None:
            raise UsageError("--deployable-only needs --task: deployments are checked in the task's default template")
        if not deploys:
            raise UsageError(
                f"--deployable-only: deployments are measured for classification and detection, not {options.task}"
            )
        rows = [b for b in rows if b["type"] in deploys and deploys[b["type"]].deploys == "yes"]
    if options.weights_only:
        rows = [b | {"archs": [a for a in b.get("archs", []) if a["weights"]]} for b in rows]
        rows = [b for b in rows if b["archs"]]
    excluded = [
        {"type": f"{lib}.{name}", "reason": reason}
        for lib in libraries
        for name, reason in index["libraries"].get(lib, {}).get("excluded", {}).items()
    ]
    if verified is not None or deploys:
        rows = [b | {"measured_arch": _measured_arch(b)} for b in rows]
    if options.verified_only or options.deployable_only:  # the arch the matrix ran, not the others
        rows = [_measured_only(b) for b in rows]
    if verified is not None:
        rows = [b | {"verified": _verified_json(verified.get(b["type"]))} for b in rows]
    if deploys:  # a task whose default template the deployment matrix covers
        rows = [b | {"deploys": _deploys_json(deploys.get(b["type"]))} for b in rows]
    if options.output_format == "json":
        return Outcome(json.dumps({"backbones": rows, "excluded": excluded}, indent=2) + "\n")
    say(f"[*] {len(rows)} backbones from {', '.join(libraries)}; {len(excluded)} excluded (see --format json)")
    lines = _sorted_rows(rows, options.sort) if options.sort else _backbone_rows(rows)
    header = _HEADER
    if verified is not None:
        header = [*_HEADER, "Verified"]
        lines = _with_column(lines, rows, "verified", _verified_text, "not measured")
    if deploys:
        header = [*header, "Deploys"]
        lines = _with_column(lines, rows, "deploys", _deploys_text, "?")
    say("[*] * measured on the meta device at 224x224 (the backbone alone); other figures as published")
    return Outcome(render_table(header, lines))


def _verified(task: str) -> dict[str, Any]:
    from otxgen.matrix.verified import verified

    return verified(task)


def _verified_json(cell: Any) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {"template": cell.template, "furthest": cell.furthest, "outcome": cell.outcome, "reason": cell.reason}


def _deploys(task: str) -> dict[str, Any]:
    from otxgen.matrix.verified import deploys

    return deploys(task)


def _deploys_json(cell: Any) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {"template": cell.template, "deploys": cell.deploys, "reason": "" if cell.passed else cell.reason}


def _deploys_text(cell: dict[str, Any] | None) -> str:
    """yes, the failing stage, "-" (it does not build or run: no deployment to try), "?" (not measured)."""
    if cell is None:
        return "?"
    return cell["deploys"] or "-"


def _measured_arch(backbone: dict[str, Any]) -> str | None:
    """The arch the matrix measured (the default: the first option of a required argument, else the
    schema's default ``arch``), as its first label in the listing, for a backbone listed with several
    archs; None for one listed with one."""
    from otxgen.matrix.verified import load_verified
    from otxgen.schema.store import load_schema

    archs = backbone.get("archs") or []
    if len(archs) < 2:
        return None
    values = list(load_verified().args.get(backbone["type"], {}).values())
    if not values:
        values = [load_schema(backbone["type"]).get("properties", {}).get("arch", {}).get("default")]
    wanted = {str(value) for value in values if value is not None}
    return next((arch["arch"][0] for arch in archs if wanted & {str(label) for label in arch["arch"]}), None)


def _measured_only(backbone: dict[str, Any]) -> dict[str, Any]:
    measured = backbone.get("measured_arch")
    if measured is None:
        return backbone
    return backbone | {"archs": [a for a in backbone["archs"] if a["arch"][0] == measured], "measured_arch": None}


def _with_column(
    lines: list[list[str]],
    rows: list[dict[str, Any]],
    key: str,
    text: Callable[[dict[str, Any] | None], str],
    unmeasured: str,
) -> list[list[str]]:
    """A column from each backbone's ``key``: on the row of the arch the matrix measured, and
    ``unmeasured`` on its other arch rows (the matrix runs each backbone's default arch alone); on
    its first row where it is listed with one arch."""
    by_type = {b["type"]: b for b in rows}
    out, current = [], None
    for line in lines:
        current = by_type.get(line[1], current) if line[1] else current
        measured = current.get("measured_arch") if current else None
        label = line[2].split(" ", 1)[0]
        if current is None or (measured is None and not line[1]) or (measured is not None and not label):
            cell = ""
        elif measured is not None and label != measured:
            cell = unmeasured
        else:
            cell = text(current.get(key))
        out.append([*line, cell])
    return out


def _verified_text(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "not verified"
    if cell["outcome"] == "ok":
        return f"yes ({cell['furthest']})"
    return f"no: {cell['reason']}"[:60]


def _backbone_rows(backbones: list[dict[str, Any]]) -> list[list[str]]:
    """One row per arch option of distinct cost, the required arguments beside the backbone's first."""
    rows = []
    for number, backbone in enumerate(backbones, start=1):
        archs = backbone.get("archs") or [{}]
        required = [[arg, _options_text(choices)] for arg, choices in backbone["required_args"].items()]
        for depth in range(max(len(archs), len(required))):
            first = depth == 0
            arch = _arch_cells(archs[depth]) if depth < len(archs) else ["", "", "", "", ""]
            args = required[depth] if depth < len(required) else ["", ""]
            rows.append([str(number) if first else "", backbone["type"] if first else "", *arch, *args])
    return rows


def _sorted_rows(backbones: list[dict[str, Any]], key: str) -> list[list[str]]:
    """Every arch option as its own row, best first: highest top-1, fewest parameters or GFLOPs;
    unknown figures last."""
    field = {"params": "params", "flops": "gflops", "top1": "top1"}[key]
    sign = -1 if key == "top1" else 1
    pairs = [(b, a) for b in backbones for a in b.get("archs") or []]
    pairs.sort(key=lambda pair: (pair[1].get(field) is None, sign * (pair[1].get(field) or 0), pair[0]["type"]))
    return [
        [str(number), backbone["type"], *_arch_cells(arch), *_required_text(backbone)]
        for number, (backbone, arch) in enumerate(pairs, start=1)
    ]


def _required_text(backbone: dict[str, Any]) -> list[str]:
    required = backbone["required_args"]
    return [", ".join(required), "; ".join(_options_text(c) for c in required.values())]


def _arch_cells(arch: dict[str, Any]) -> list[str]:
    if not arch:
        return ["", "", "", "", ""]
    labels = arch["arch"]
    label = "" if labels == ["default"] else labels[0] + (f" ({', '.join(labels[1:])})" if labels[1:] else "")
    params = arch.get("params")
    return [
        label,
        _figure(params / 1e6 if params is not None else None, arch.get("params_source"), 2),
        _figure(arch.get("gflops"), arch.get("gflops_source"), 2),
        f"{arch['top1']:.2f}" if arch.get("top1") is not None else "",
        str(arch.get("weights") or ""),
    ]


def _figure(value: float | None, source: str | None, digits: int) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" + ("*" if source == "measured" else "")


def _options_text(choices: list[Any]) -> str:
    return ", ".join(str(c) for c in choices) if choices else "(no options: user input)"


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain text table; cells longer than ``OPTIONS_WIDTH`` wrap onto continuation lines."""
    wrapped = [[_wrapped(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(line) for row in wrapped for line in row[i])) for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, _line(header, widths), rule.replace("-", "=")]
    for row in wrapped:
        depth = max(map(len, row))
        if depth == 1:  # most rows of the whole catalog's 2,000
            lines.append(_line([cell[0] for cell in row], widths))
            continue
        for at in range(depth):
            lines.append(_line([cell[at] if at < len(cell) else "" for cell in row], widths))
    lines.append(rule)
    return "\n".join(lines) + "\n"


_ODD_SPACE = re.compile(r"[\t\n\r\x0b\x0c]|^\s|\s$")


def _wrapped(cell: str) -> list[str]:
    """``textwrap.wrap``'s lines of ``cell``; a short plain cell (most of the whole catalog's 20,000) is
    its own one line, without the wrapper's work."""
    if len(cell) <= OPTIONS_WIDTH and not _ODD_SPACE.search(cell):
        return [cell]
    return textwrap.wrap(cell, OPTIONS_WIDTH) or [""]


def _line(cells: list[str], widths: list[int]) -> str:
    return "|" + "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "|"


def find_templates(options: FindTemplateOptions, say: Say) -> Outcome:
    from otxgen.workspace import list_templates

    templates = [t for t in list_templates() if options.task in (None, t.task)]
    if options.output_format == "json":
        return Outcome(json.dumps({"templates": [t.as_json() for t in templates]}, indent=2) + "\n")
    rows = [[t.task, t.id, t.name, t.backbone, "yes" if t.default else ""] for t in templates]
    return Outcome(render_table(["Task", "ID", "Name", "Backbone", "Default"], rows))
