"""What one cell runs, in a worker process: the static swap into a fresh copy of the template's
workspace (build's own plan and validate, no smoke), then the smoke-build of the swapped ``model.py``
(``run_smoke``: the whole model built and its backbone's outputs held against the neck, a forward, one
train step, the export) for the checks asked. Failures are results; only the supervisor sees hangs,
crashes and memory exhaustion from outside.

The input is the smallest the template's strides admit (``SMALL_INPUT``), or the backbone's own fixed
size; a cell whose backbone does not fit or whose forward fails at that size is tried once more at the
size ``otxgen smoke`` would choose, so that a small input never makes a failure.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otxgen.errors import OtxgenError
from otxgen.matrix.cells import Cell, Outcome, Record, StepResult, StepState, one_line, record_of

SMALL_INPUT = 64  # two levels at the deepest stride (32) of every template's backbone
FAULTS_VARIABLE = "OTXGEN_MATRIX_FAULTS"  # test hook: "hang:TYPE@TEMPLATE,oom:TYPE@TEMPLATE,crash:,slow:..."
SLOW_SECONDS = 3.0  # what a ``slow`` cell adds: long enough to be lost with its node
# How running out of memory reads in a step's reason (Python, torch's CPU allocator, OpenVINO's allocator)
_MEMORY = re.compile(
    r"MemoryError|can't allocate memory|not enough memory|Cannot allocate memory|bad_alloc|runtime/allocator\.cpp"
)
Phase = Callable[[str, dict[str, StepResult]], None]


def run_cell(cell: Cell, phase: Phase, worker: str = "", device: str = "cpu") -> Record:
    """The record of ``cell``, its models on ``device``; ``phase(name, steps so far)`` is called before
    each part, so that a supervisor that has to stop the cell knows where it was and what had passed."""
    start = time.monotonic()
    steps: dict[str, StepResult] = {}
    size: int | None = None
    dtype = ""
    try:
        with tempfile.TemporaryDirectory(prefix="otxgen-cell-") as folder:
            workspace = Path(folder) / "workspace"
            phase("static", steps)
            steps["static"] = static_check(cell, workspace)
            if steps["static"].state == "ok" and len(cell.checks) > 1:
                phase("build", steps)
                _inject_fault(cell)
                size, smoke_steps, dtype = smoke_checks(cell, workspace / "model.py", device)
                steps.update(smoke_steps)
    except MemoryError:
        reason = "MemoryError: the cell ran out of its memory limit"
        return record_of(cell, steps, "out-of-memory", size, time.monotonic() - start, worker).with_reason(reason)
    outcome: Outcome | None = None
    if any(_MEMORY.search(step.reason) for step in steps.values()):
        outcome = "out-of-memory"
    return record_of(cell, steps, outcome, size, time.monotonic() - start, worker, dtype)


def static_check(cell: Cell, workspace: Path) -> StepResult:
    """``build --task`` then ``build --backbone TYPE --set ... --no-smoke`` into ``workspace``: the plan
    (channels, strides, consumers) and validate's check on its result. A refusal is the reason."""
    from otxgen.app.build import build_backbone, build_task
    from otxgen.options import BuildBackboneOptions, BuildTaskOptions

    start = time.perf_counter()
    messages: list[str] = []
    build_task(BuildTaskOptions(cell.task, cell.template, workspace), messages.append)
    options = BuildBackboneOptions(
        backbone=cell.backbone,
        overrides=tuple((name, _yaml_value(value)) for name, value in cell.args.items()),
        workspace=workspace,
        smoke=False,
        no_backbone_yaml=True,
    )
    try:
        outcome = build_backbone(options, messages.append)
    except OtxgenError as error:
        return StepResult("failed", _seconds(start), _relative(str(error), workspace))
    if outcome.exit_code != 0:
        warnings = [line for line in messages if line.startswith("[!]")] or [f"exit {outcome.exit_code}"]
        return StepResult("failed", _seconds(start), _relative(warnings[0], workspace))
    return StepResult("ok", _seconds(start))


def smoke_checks(cell: Cell, model: Path, device: str = "cpu") -> tuple[int | None, dict[str, StepResult], str]:
    """The smoke-build's steps on ``device`` as check results, the input side they ran at, and the dtype
    the backbone was built in where not float32: a backbone whose float32 weights do not fit in the cell's
    memory is built again in bfloat16, the rest of the model in float32 (``otxgen smoke --backbone-dtype``),
    whether torch's allocator or Python's ran out."""
    size = input_size_for(cell)
    steps = _smoke(cell, model, size, device)
    dtype = ""
    if _out_of_memory(steps):
        gc.collect()  # the float32 attempt's tensors
        dtype, steps = "bfloat16", _smoke(cell, model, size, device, "bfloat16")
    if size is not None and _size_may_matter(steps) and not _out_of_memory(steps):
        size, steps = None, _smoke(cell, model, None, device, dtype or "float32")
    return size, steps, dtype


def input_size_for(cell: Cell) -> int | None:
    """``SMALL_INPUT``; the backbone's fixed input size when it has one; ``None`` (the smoke's own
    choice) for a template whose head needs a large input."""
    from otxgen.schema.store import load_schema

    if cell.template.startswith("segmentation-lraspp"):
        return None  # LR-ASPP pools a fixed window: the smoke knows its minimum
    channels: dict[str, Any] = load_schema(cell.backbone)["x-otxgen"].get("channels") or {}
    fixed = channels.get("input_size") if channels.get("fixed_input_size") else None
    return int(fixed[0]) if fixed else SMALL_INPUT


def _out_of_memory(steps: dict[str, StepResult]) -> bool:
    build = steps.get("build")
    return build is not None and build.state == "failed" and _MEMORY.search(build.reason) is not None


def _size_may_matter(steps: dict[str, StepResult]) -> bool:
    failed = [name for name, step in steps.items() if step.state == "failed"]
    return bool(failed) and failed[0] in ("build", "forward")


def _smoke(cell: Cell, model: Path, size: int | None, device: str, dtype: str = "float32") -> dict[str, StepResult]:
    from otxgen.smoke.run import run_smoke

    train = "train" in cell.checks
    export = "openvino" if "export" in cell.checks else None
    start = time.perf_counter()
    try:
        result = run_smoke(model, device, size, train, _quiet, export, backbone_dtype=dtype)
    except MemoryError:  # Python's, where torch's allocator would fail the build: the same, for the retry
        return {"build": StepResult("failed", _seconds(start), f"MemoryError: out of the cell's memory in {dtype}")}
    except Exception as error:  # noqa: BLE001 - a model that cannot be loaded or built is the cell's result
        return {"build": StepResult("failed", _seconds(start), _error_line(error, model.parent))}
    seconds = result.seconds
    built = seconds.get("build", 0.0) + seconds.get("backbone", 0.0)
    problems = result.levels.problems
    build: StepResult = StepResult("ok", round(built, 3))
    if problems:
        build = StepResult("failed", round(built, 3), one_line(problems[0]))
    steps = {"build": build}
    asked = [("forward", result.forward), ("train", result.train), ("export", result.export)]
    for name, step in asked:
        if name in cell.checks and step is not None:
            state: StepState = "ok" if step.state == "ok" else "failed" if step.state == "failed" else "skipped"
            steps[name] = StepResult(state, round(step.seconds, 3), one_line(step.detail) if state != "ok" else "")
    return steps


def _error_line(error: Exception, workspace: Path) -> str:
    text = str(error) if isinstance(error, OtxgenError) else f"{type(error).__name__}: {error}"
    return _relative(text.splitlines()[0] if text else type(error).__name__, workspace)


def _relative(text: str, workspace: Path) -> str:
    """A reason without the cell's temporary folder or the installation's folders: the same cell reads
    the same on every machine."""
    import sysconfig

    paths = sysconfig.get_paths()
    folders = {str(workspace.resolve()), str(workspace), *(paths[name] for name in ("purelib", "platlib", "stdlib"))}
    for folder in sorted(folders, key=len, reverse=True):
        text = text.replace(folder + os.sep, "")
    return one_line(text.replace(str(workspace), "."))


def _yaml_value(value: Any) -> str:
    import json

    return json.dumps(value)  # JSON is YAML: ``--set depth=18``, ``--set arch="b0"``


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _quiet(message: str) -> None:
    """The smoke's progress lines: a cell's results are its record."""


def _inject_fault(cell: Cell) -> None:
    """The test hook: make the named cell hang, exhaust its memory or crash where a model would (after
    the static check, in the build), as a real one would, or take ``SLOW_SECONDS`` longer (a cell that
    is still running when its node is removed). Unset outside the tests."""
    for item in filter(None, os.environ.get(FAULTS_VARIABLE, "").split(",")):
        kind, _, target = item.partition(":")
        if target != f"{cell.backbone}@{cell.template}":
            continue
        if kind == "hang":
            time.sleep(24 * 3600)
        elif kind == "oom":
            hoard = []
            while True:  # touched pages, so that they count (a zeroed buffer may stay unmapped)
                hoard.append(b"\x01" * (64 << 20))
        elif kind == "crash":
            os.abort()
        elif kind == "slow":
            time.sleep(SLOW_SECONDS)
