"""The committed matrix, ``schemas/verified.json`` (shipped as ``otxgen.schemas/verified.json``): for
each listed backbone's default arch, in each template, the furthest check passed, the outcome and
the one-line reason. ``make matrix`` regenerates it; ``find`` reads it through ``verified(task)``.
Reading imports no torch (nor anything but json and importlib.resources).

Format (``format`` 1), one backbone a line so that a regeneration's diff reads per backbone::

    {"format": 1, "generated_by": "make matrix", "versions": {...},
     "templates": {ID: {"task": T, "default": bool, "checks": [...], "fingerprint": F, "done": N,
                        "missing": N}},
     "args": {TYPE: {NAME: VALUE, ...}, ...},
     "cells": {TYPE: {ID: [FURTHEST or "", OUTCOME, REASON], ...}, ...}}

``args`` holds the arguments of the backbones that have required ones (the others take none) and
``fingerprint`` the template files' hash: with ``versions`` they give back each cell's cache key, so
that ``matrix --seed`` takes a committed cell as recorded when the same work would be done again.

``schemas/deploys.json`` (``make deploys``) has the same form: the default classification and detection
templates with the export check too (OpenVINO, f32 on the CPU), read by ``deploys(task)`` for ``find``'s
Deploys column. It grows across runs (resumable); a backbone it does not hold is not measured yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from otxgen.facts.deploys import failed_stage
from otxgen.matrix.cells import CHECKS, OUTCOMES, Cell, Record, StepResult, record_of

VERIFIED_FILE = "verified.json"
DEPLOYS_FILE = "deploys.json"  # the same form: the export check too, in the default templates it covers
PACKAGE = "otxgen.schemas"
FORMAT = 1


@dataclass(frozen=True)
class Verified:
    """One backbone (default arch) in one template, as the committed matrix found it.

    ``checks``: the checks that were asked (in order); ``furthest``: the last of them passed with all
    before it (None: not even ``static``); ``outcome``: ``ok`` (every asked check passed), ``failed``,
    ``needs-input`` (a required argument has no options), ``hang``, ``crash`` or ``out-of-memory``."""

    backbone: str
    template: str
    task: str
    checks: tuple[str, ...]
    furthest: str | None
    outcome: str
    reason: str

    @property
    def passed(self) -> bool:
        """Every check asked of this cell passed (what ``find --verified-only`` keeps)."""
        return self.outcome == "ok"

    @property
    def failed_check(self) -> str | None:
        passed = CHECKS.index(self.furthest) + 1 if self.furthest else 0
        remaining = [check for check in self.checks if CHECKS.index(check) >= passed]
        return remaining[0] if remaining and not self.passed else None

    @property
    def deploys(self) -> str | None:
        """``yes`` (exported, compiled and equal to PyTorch within the tolerance), or where deploying
        failed: ``conversion``, ``compile``, ``mismatch`` (or ``hang``... in the export); None where
        the export was not asked, or the model failed before it (it does not build or run)."""
        if "export" not in self.checks:
            return None
        if self.passed:
            return "yes"
        if self.failed_check != "export":
            return None
        return failed_stage(self.reason) if self.outcome == "failed" else self.outcome

    @property
    def label(self) -> str:
        """A table cell: ``✓ forward`` (passed up to forward), ``✗ build`` (failed there),
        ``needs input``, ``✗ hang``, ``✗ out-of-memory``..."""
        if self.passed:
            return f"✓ {self.furthest}"
        if self.outcome == "needs-input":
            return "needs input"
        if self.outcome in ("hang", "crash", "out-of-memory"):
            return f"✗ {self.outcome}"
        return f"✗ {self.failed_check}"


@dataclass(frozen=True)
class VerifiedMatrix:
    templates: dict[str, dict[str, Any]]  # id -> task, default, checks, done, missing
    cells: dict[tuple[str, str], Verified]  # (backbone type, template id) -> cell
    versions: dict[str, str]
    args: dict[str, dict[str, Any]] = field(default_factory=dict)  # type -> its required arguments

    def default_template(self, task: str) -> str | None:
        return next((tid for tid, meta in self.templates.items() if meta["task"] == task and meta["default"]), None)


def verified(task: str, template: str | None = None, file: str = VERIFIED_FILE) -> dict[str, Verified]:
    """Backbone type -> its verified cell in ``template`` (default: the default template of ``task``).
    A backbone absent from the result has not been verified there (yet)."""
    matrix = load_verified(file)
    chosen = template or matrix.default_template(task)
    return {backbone: cell for (backbone, tid), cell in matrix.cells.items() if tid == chosen}


def deploys(task: str) -> dict[str, Verified]:
    """Backbone type -> its cell with the export check (``Verified.deploys``) in the default template of
    ``task``, from the committed deployment matrix; absent: not measured (yet)."""
    return verified(task, file=DEPLOYS_FILE)


@cache
def load_verified(file: str = VERIFIED_FILE) -> VerifiedMatrix:
    """A committed file (``verified.json``, or ``deploys.json``); an empty matrix where none is shipped."""
    path = resources.files(PACKAGE).joinpath(file)
    if not path.is_file():
        return VerifiedMatrix({}, {}, {})
    return parse_verified(json.loads(path.read_text(encoding="utf-8")))


def parse_verified(data: dict[str, Any]) -> VerifiedMatrix:
    """The committed file's data; ``ValueError`` where a cell says what no run records (a furthest check
    its template does not ask, an outcome that is no outcome, a pass short of the last check)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{VERIFIED_FILE}: format {found!r}, expected {FORMAT}")
    templates: dict[str, dict[str, Any]] = data["templates"]
    cells = {
        (backbone, tid): Verified(
            backbone, tid, templates[tid]["task"], tuple(templates[tid]["checks"]), furthest or None, outcome, reason
        )
        for backbone, row in data["cells"].items()
        for tid, (furthest, outcome, reason) in row.items()
    }
    for cell in cells.values():
        _check_cell(cell)
    return VerifiedMatrix(templates, cells, dict(data.get("versions", {})), dict(data.get("args", {})))


def _check_cell(cell: Verified) -> None:
    where = f"{cell.backbone} in {cell.template}"
    if cell.outcome not in OUTCOMES or not isinstance(cell.reason, str):
        raise ValueError(f"{where}: outcome {cell.outcome!r}, reason {cell.reason!r}")
    if cell.furthest is not None and cell.furthest not in cell.checks:
        raise ValueError(f"{where}: {cell.furthest!r} is not one of the checks {list(cell.checks)}")
    if (cell.outcome == "ok") != (cell.furthest == cell.checks[-1]):
        raise ValueError(f"{where}: {cell.outcome} with {cell.furthest or 'no check'} passed of {list(cell.checks)}")


def seed_record(matrix: VerifiedMatrix, cell: Cell, source: str) -> Record | None:
    """The committed result of ``cell`` as a record, when the file holds the same work (the same
    default-arch arguments, template files, checks and versions: the same cache key), or work whose
    result implies this cell's: fewer checks, the same otherwise, and one of them failed, or needs
    input (a backbone that does not run is not exported either). Its steps are what the file says (the checks passed,
    then the failure's reason); times are not kept."""
    found = matrix.cells.get((cell.backbone, cell.template))
    template = matrix.templates.get(cell.template, {})
    if found is None or not cell.default_arch or "fingerprint" not in template:
        return None
    versions = {name: matrix.versions.get(name, "") for name in cell.versions if name != "template"}
    versions["template"] = template["fingerprint"]
    committed = Cell(
        cell.backbone, matrix.args.get(cell.backbone, {}), cell.template, found.task, found.checks, True, versions
    )
    same = committed.key == cell.key
    implied = (
        found.outcome in ("failed", "needs-input")  # not a hang or a memory limit: another run may pass
        and cell.checks[: len(found.checks)] == found.checks
        and replace(committed, checks=cell.checks).key == cell.key
    )
    if not (same or implied):
        return None
    passed = found.checks.index(found.furthest) + 1 if found.furthest else 0
    steps = {check: StepResult("ok") for check in found.checks[:passed]}
    if found.outcome == "failed" and passed < len(found.checks):
        steps[found.checks[passed]] = StepResult("failed", reason=found.reason)
    stopped = next((name for name in OUTCOMES if name == found.outcome and name not in ("ok", "failed")), None)
    record = record_of(cell, steps, stopped, worker=f"seed:{source}")
    return record.with_reason(found.reason)


def render_verified(
    templates: dict[str, dict[str, Any]],
    rows: dict[str, dict[str, tuple[str, str, str]]],
    versions: dict[str, str],
    args: dict[str, dict[str, Any]],
) -> str:
    """The file's text: ``rows`` is backbone -> template -> (furthest or "", outcome, reason);
    ``args``: the required arguments of the backbones that have some."""
    head = {
        "format": FORMAT,
        "generated_by": "make matrix",
        "versions": versions,
        "templates": templates,
        "args": args,
    }
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2] + ',\n "cells": {\n'
    lines = [f"  {json.dumps(backbone)}: {json.dumps(row, ensure_ascii=False)}" for backbone, row in rows.items()]
    return text + ",\n".join(lines) + "\n }\n}\n"
