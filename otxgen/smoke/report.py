"""What a smoke-build found, and its two renderings: a table per level plus a one-line verdict, or
JSON. Pure: no torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from otxgen.smoke.check import Level, LevelReport

OK_MARK, BAD_MARK = "✓", "✗"


@dataclass(frozen=True)
class Step:
    """A whole-model step: ``state`` is ``ok``, ``failed`` or ``skipped``; ``detail`` says why or what."""

    state: str
    detail: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeResult:
    model_path: str
    scope: str
    task: str
    model_type: str
    backbone_type: str
    device: str
    input_size: int
    shapes_from: str
    levels: LevelReport
    forward: Step
    train: Step
    seconds: dict[str, float]
    notes: tuple[str, ...] = ()
    export: Step | None = None  # ``data`` holds the ExportReport's figures
    weights: Step | None = None  # ``--weights-check``: ``data`` holds the key counts
    optimizer: Step | None = None  # the config's ``optim_wrapper`` built over the model (where it has one)

    @property
    def problems(self) -> tuple[str, ...]:
        steps = tuple(f"{name}: {s.detail}" for name, s in self._steps() if s is not None and s.state == "failed")
        return self.levels.problems + steps

    @property
    def ok(self) -> bool:
        return not self.problems

    def _steps(self) -> tuple[tuple[str, Step | None], ...]:
        return (
            ("forward", self.forward),
            ("optimizer", self.optimizer),
            ("train step", self.train),
            ("export", self.export),
            ("weights", self.weights),
        )


def verdict(result: SmokeResult) -> str:
    """One line: OK or MISMATCH, what was proven or the first problem, device, size and time."""
    where = f"[{result.device}, {result.input_size}px, {sum(result.seconds.values()):.1f} s]"
    if not result.ok:
        count = len(result.problems)
        more = f" (+{count - 1} more)" if count > 1 else ""
        return f"MISMATCH: {result.problems[0]}{more} {where}"
    count = len(result.levels.levels)
    proven = ["1 backbone output fits" if count == 1 else f"{count} backbone outputs fit"]
    proven += [
        f"{name} {step.detail}".strip() if name != "forward" else "forward ok"
        for name, step in result._steps()
        if step is not None and step.state == "ok"
    ]
    skipped = [
        f"{name} skipped"
        for name, step in (("forward", result.forward), ("train step", result.train))
        if step.state == "skipped" and step.detail != "not requested"
    ]
    return f"OK: {result.model_type} with {result.backbone_type}: " + "; ".join(proven + skipped) + f" {where}"


def render_table(result: SmokeResult) -> str:
    header = (
        f"{result.model_path}: {result.model_type} ({result.scope}, {result.task}), backbone "
        f"{result.backbone_type}; shapes from a {result.shapes_from} forward at "
        f"{result.input_size}x{result.input_size}"
    )
    rows = [("Index", "Shape", "Channels", "Stride", "Expected", "OK")]
    rows += [_row(level) for level in result.levels.levels]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [header, ""] + [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    shown = (
        ("forward (mode='tensor')", result.forward),
        ("optimizer", result.optimizer),
        ("train step", result.train),
        ("export", result.export),
        ("weights", result.weights),
    )
    lines += [""] + [_step_line(name, step) for name, step in shown if step is not None]
    lines += [f"  note: {note}" for note in result.notes]
    lines += [f"  {BAD_MARK} {problem}" for problem in result.problems]
    return "\n".join([*lines, "", verdict(result)]) + "\n"


def _row(level: Level) -> tuple[str, str, str, str, str, str]:
    shape = "not a tensor" if level.shape is None else str(level.shape)
    return (
        str(level.index),
        shape,
        _text(level.channels),
        _text(level.stride),
        level.expected,
        OK_MARK if level.ok else BAD_MARK,
    )


def _text(value: int | None) -> str:
    return "-" if value is None else str(value)


def _step_line(name: str, step: Step) -> str:
    mark = {"ok": OK_MARK, "failed": BAD_MARK}.get(step.state, "-")
    timing = f" ({step.seconds:.2f} s)" if step.state != "skipped" else ""
    return f"  {mark} {name}: {step.state}{': ' + step.detail if step.detail else ''}{timing}"


def render_json(result: SmokeResult) -> str:
    payload = {
        "model": result.model_path,
        "scope": result.scope,
        "task": result.task,
        "model_type": result.model_type,
        "backbone_type": result.backbone_type,
        "device": result.device,
        "input_size": result.input_size,
        "shapes_from": result.shapes_from,
        "levels": [
            {
                "index": lv.index,
                "shape": list(lv.shape) if lv.shape is not None else None,
                "channels": lv.channels,
                "stride": lv.stride,
                "expected": lv.expected,
                "ok": lv.ok,
                "problems": list(lv.problems),
            }
            for lv in result.levels.levels
        ],
        "forward": _step_json(result.forward),
        "train_step": _step_json(result.train),
        "export": _step_json(result.export) if result.export is not None else None,
        "weights": _step_json(result.weights) if result.weights is not None else None,
        "optimizer": _step_json(result.optimizer) if result.optimizer is not None else None,
        "notes": list(result.notes),
        "problems": list(result.problems),
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "ok": result.ok,
        "verdict": verdict(result),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _step_json(step: Step) -> dict[str, Any]:
    return {"state": step.state, "detail": step.detail, "seconds": round(step.seconds, 3), **step.data}
