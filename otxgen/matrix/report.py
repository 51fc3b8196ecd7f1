"""The matrix as a table (rows: backbone archs; columns: templates) and its renderings: the markdown
summary (per template, how many backbones pass each check and the common reasons for failure) and one
self-contained HTML page (a heatmap coloured by the furthest check passed, filters by library and
task, the reason on hover). Pure: no I/O, no torch."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from otxgen.matrix.cells import CHECKS, Cell, Record

COMMON_REASONS = 5
# Colour of a cell by the furthest check passed ("none": not even the static one).
COLOURS = {
    "none": "#d73027",
    "static": "#fc8d59",
    "build": "#fee08b",
    "forward": "#a6d96a",
    "train": "#66bd63",
    "export": "#1a9850",
    "needs-input": "#bdbdbd",
    "missing": "#ffffff",
}
MARKS = {"hang": "H", "crash": "C", "out-of-memory": "M", "needs-input": "?"}


@dataclass(frozen=True)
class Column:
    id: str
    task: str
    default: bool
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Matrix:
    """The planned cells and the records found for them (a cell without a record is missing)."""

    columns: tuple[Column, ...]
    rows: tuple[str, ...]  # arch labels, in plan order
    libraries: dict[str, str]  # row -> library
    records: dict[tuple[str, str], Record] = field(default_factory=dict)  # (row, template) -> record
    planned: int = 0

    @property
    def missing(self) -> int:
        return self.planned - len(self.records)


def matrix_of(cells: list[Cell], records: dict[str, Record], columns: tuple[Column, ...]) -> Matrix:
    rows = tuple(dict.fromkeys(cell.arch for cell in cells))
    libraries = {cell.arch: cell.library for cell in cells}
    found = {(cell.arch, cell.template): records[cell.key] for cell in cells if cell.key in records}
    return Matrix(columns, rows, libraries, found, len(cells))


def summary_markdown(matrix: Matrix) -> str:
    lines = ["# Backbone x template matrix", ""]
    lines += [f"{len(matrix.rows)} backbone archs x {len(matrix.columns)} templates: {matrix.planned} cells, "]
    lines[-1] += f"{len(matrix.records)} done, {matrix.missing} missing."
    lines += [
        "",
        "| template | task | checks | "
        + " | ".join(CHECKS)
        + " | hang | crash | out of memory | needs input | missing |",
    ]
    lines += ["|" + "---|" * (len(CHECKS) + 8)]
    for column in matrix.columns:
        lines.append(_summary_row(matrix, column))
    halved = sorted({r.arch for r in matrix.records.values() if r.backbone_dtype and r.outcome == "ok"})
    if halved:
        lines += ["", f"{len(halved)} backbones passed with the backbone in bfloat16 (float32 did not fit the"]
        lines[-1] += f" cell's memory limit): {', '.join(halved)}."
    for column in matrix.columns:
        lines += ["", f"## {column.id}", "", *_common_reasons(matrix, column)]
    return "\n".join(lines) + "\n"


def _column_records(matrix: Matrix, column: Column) -> list[Record]:
    return [record for (_, template), record in matrix.records.items() if template == column.id]


def _summary_row(matrix: Matrix, column: Column) -> str:
    records = _column_records(matrix, column)
    passed = [_passed(records, check) if check in column.checks else "-" for check in CHECKS]
    outcomes = Counter(record.outcome for record in records)
    stops = [str(outcomes[name]) for name in ("hang", "crash", "out-of-memory", "needs-input")]
    cells = [column.id, column.task, ",".join(column.checks), *passed, *stops, str(_missing_in(matrix, column))]
    return "| " + " | ".join(cells) + " |"


def _passed(records: list[Record], check: str) -> str:
    order = CHECKS.index(check)
    count = sum(1 for r in records if r.furthest is not None and CHECKS.index(r.furthest) >= order)
    return f"{count}/{len(records)}"


def _missing_in(matrix: Matrix, column: Column) -> int:
    """Every row is planned in every column (the plan is backbones x templates)."""
    return len(matrix.rows) - len(_column_records(matrix, column))


def _common_reasons(matrix: Matrix, column: Column) -> list[str]:
    failed = [r for r in _column_records(matrix, column) if r.outcome not in ("ok", "needs-input")]
    if not failed:
        return ["No failures."]
    groups: Counter[tuple[str, str]] = Counter((r.failed_check or r.outcome, _pattern(r.reason)) for r in failed)
    lines = [
        f"{len(failed)} cells did not pass every check. Common reasons:",
        "",
        "| cells | check | reason |",
        "|---|---|---|",
    ]
    for (check, pattern), count in groups.most_common(COMMON_REASONS):
        members = [r.reason for r in failed if _pattern(r.reason) == pattern and (r.failed_check or r.outcome) == check]
        lines.append(f"| {count} | {check} | {_md(_shared(members))} |")
    return lines


_VARIABLE = re.compile(r"('[^']*'|\d+)")


def _pattern(reason: str) -> str:
    """A reason with its numbers and quoted names blanked: the same failure of different backbones.
    Cut at 120 characters: a reason is stored cut (at ``REASON_LENGTH``, or shorter in an older
    committed file), and blanking makes equal failures of different figures end at different places."""
    return _VARIABLE.sub("_", reason)[:120]


def _shared(reasons: list[str]) -> str:
    """The reason of a group as its members share it: a number or quoted name that differs between
    them is shown as ``…`` (ViTs "at stride …", not the first one's "at stride 16"); where their text
    parts, its common beginning and ``…``."""
    parts = [_VARIABLE.split(reason) for reason in reasons]  # text, figure, text, figure, ..., text
    common = min(len(p) for p in parts)
    shared = []
    for index, tokens in enumerate(zip(*(p[:common] for p in parts), strict=True)):
        if len(set(tokens)) == 1:
            shared.append(tokens[0])
        elif index % 2:
            shared.append("…")
        else:
            return "".join(shared) + _common_start(tokens) + "…"
    return "".join(shared) + ("…" if any(len(p) > common for p in parts) else "")


def _common_start(texts: tuple[str, ...]) -> str:
    first, last = min(texts), max(texts)  # the sorted extremes differ first where any two do
    return first[: next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "(no reason given)"


def heatmap_html(matrix: Matrix, title: str = "otxgen matrix") -> str:
    """One page, no network: inline CSS and script; the filters hide rows (library) and columns (task)."""
    libraries = sorted(set(matrix.libraries.values()))
    tasks = sorted({column.task for column in matrix.columns})
    head = "".join(
        f'<th class="col" data-task="{_a(c.task)}" title="{_a(c.task)}">{_h(c.id)}{" *" if c.default else ""}'
        f'<div class="checks">{_h(" + ".join(c.checks))}</div></th>'
        for c in matrix.columns
    )
    head += '</tr><tr><th class="name">all checks passed</th>' + "".join(
        f'<th class="count" data-task="{_a(c.task)}">{_passed_all(_column_records(matrix, c))}</th>'
        for c in matrix.columns
    )
    body = "\n".join(_html_row(matrix, row) for row in matrix.rows)
    legend = "".join(
        f'<span class="key" style="background:{colour}">{_h(name)}</span>' for name, colour in COLOURS.items()
    )
    summary = f"{len(matrix.rows)} backbones x {len(matrix.columns)} templates; {len(matrix.records)} cells done, "
    summary += f"{matrix.missing} missing. * default template of its task. ✓ every check asked passed, ✗ the next "
    summary += "one failed, H hang, C crash, M out of memory, ? needs input. Hover a cell for its reason."
    return _PAGE.format(
        title=_h(title),
        summary=_h(summary),
        library_options=_options(libraries),
        task_options=_options(tasks),
        legend=legend,
        head=head,
        body=body,
        style=_STYLE,
        script=_SCRIPT,
    )


def _passed_all(records: list[Record]) -> str:
    return f"{sum(1 for r in records if r.outcome == 'ok')}/{len(records)}"


def _html_row(matrix: Matrix, row: str) -> str:
    library = matrix.libraries[row]
    cells = "".join(_html_cell(matrix.records.get((row, column.id)), column) for column in matrix.columns)
    return f'<tr class="row" data-library="{_a(library)}"><th class="name">{_h(row)}</th>{cells}</tr>'


def _html_cell(record: Record | None, column: Column) -> str:
    if record is None:
        missing = COLOURS["missing"]
        return f'<td data-task="{_a(column.task)}" class="cell" style="background:{missing}" title="not run yet"></td>'
    state = "needs-input" if record.outcome == "needs-input" else record.furthest or "none"
    mark = MARKS.get(record.outcome, "✓" if record.outcome == "ok" else "✗")
    tip = f"{record.arch} in {column.id}: {record.outcome}, furthest check passed: {record.furthest or 'none'}"
    tip += f", the backbone in {record.backbone_dtype}" if record.backbone_dtype else ""
    tip += f" ({', '.join(record.checks)} asked)" + (
        f"\n{record.failed_check}: {record.reason}" if record.reason else ""
    )
    return (
        f'<td data-task="{_a(column.task)}" class="cell" data-state="{_a(state)}" '
        f'style="background:{COLOURS[state]}" title="{_a(tip)}">{_h(mark)}</td>'
    )


def _options(values: list[str]) -> str:
    return '<option value="">all</option>' + "".join(f'<option value="{_a(v)}">{_h(v)}</option>' for v in values)


def _h(text: str) -> str:
    return html.escape(text, quote=False)


def _a(text: str) -> str:
    return html.escape(text, quote=True)


_STYLE = """
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
table { border-collapse: collapse; }
th.col { font-weight: 600; padding: 4px; max-width: 9em; font-size: 11px; vertical-align: bottom; }
th.col .checks { font-weight: normal; color: #666; }
th.count { font-weight: normal; font-size: 11px; color: #444; }
th.name { text-align: left; font-weight: normal; padding: 1px 8px 1px 0; white-space: nowrap; }
td.cell { width: 5em; height: 16px; text-align: center; border: 1px solid #ddd; font-size: 11px; }
.filters { margin: 8px 0; } .filters label { margin-right: 16px; }
.key { display: inline-block; padding: 2px 8px; margin-right: 4px; border: 1px solid #ccc; }
[hidden] { display: none !important; }
"""

_SCRIPT = """
function applyFilters() {
  const library = document.getElementById('library').value;
  const task = document.getElementById('task').value;
  let shown = 0;
  for (const row of document.querySelectorAll('tr.row')) {
    row.hidden = Boolean(library) && row.dataset.library !== library;
    if (!row.hidden) shown += 1;
  }
  for (const cell of document.querySelectorAll('[data-task]')) {
    cell.hidden = Boolean(task) && cell.dataset.task !== task;
  }
  document.getElementById('shown').textContent = shown + ' rows shown';
}
// ?library=timm&task=detection presets the filters: a link can point at one slice of the matrix.
const preset = new URLSearchParams(location.search);
for (const name of ['library', 'task']) {
  const select = document.getElementById(name);
  if ([...select.options].some((option) => option.value === preset.get(name))) select.value = preset.get(name);
  select.addEventListener('change', applyFilters);
}
applyFilters();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body>
<h1>{title}</h1>
<p class="summary">{summary}</p>
<div class="filters"><label>Library <select id="library">{library_options}</select></label>
<label>Task <select id="task">{task_options}</select></label><span id="shown"></span></div>
<div class="legend">Furthest check passed: {legend}</div>
<table id="matrix"><thead><tr><th class="name">Backbone</th>{head}</tr></thead>
<tbody>
{body}
</tbody></table>
<script>{script}</script>
</body></html>
"""


def matrix_json(matrix: Matrix, cells: list[Cell]) -> dict[str, object]:
    """``matrix.json``: every planned cell's record, and the cells still missing."""
    done = [
        json.loads(matrix.records[(c.arch, c.template)].to_json())
        for c in cells
        if (c.arch, c.template) in matrix.records
    ]
    missing = [{"arch": c.arch, "template": c.template} for c in cells if (c.arch, c.template) not in matrix.records]
    columns = [{"id": c.id, "task": c.task, "default": c.default, "checks": list(c.checks)} for c in matrix.columns]
    return {"format": 1, "templates": columns, "planned": matrix.planned, "cells": done, "missing": missing}
