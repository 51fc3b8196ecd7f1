"""What a cell is (one backbone with its arguments in one template, and the checks asked of it), its
cache key, and its record: one step result per check, the outcome, the furthest check passed. Pure
data with JSON round trips; no torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

CHECKS = ("static", "build", "forward", "train", "export")
# What a check needs to have passed before it: every check after ``static`` runs on a built model.
PREREQUISITES = {
    "static": (),
    "build": ("static",),
    "forward": ("build",),
    "train": ("forward",),
    "export": ("forward",),
}
Outcome = Literal["ok", "failed", "needs-input", "hang", "crash", "out-of-memory"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "needs-input", "hang", "crash", "out-of-memory")
StepState = Literal["ok", "failed", "skipped"]
REASON_LENGTH = 300  # one line; long enough for an exception's message, short enough for a tooltip


def with_prerequisites(checks: tuple[str, ...]) -> tuple[str, ...]:
    """``('forward',)`` -> ``('static', 'build', 'forward')``: the checks in their running order."""
    wanted = set(checks)
    for check in CHECKS[::-1]:
        if check in wanted:
            wanted.update(PREREQUISITES[check])
    return tuple(check for check in CHECKS if check in wanted)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def one_line(text: str) -> str:
    """A reason as one line of at most ``REASON_LENGTH`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= REASON_LENGTH else line[: REASON_LENGTH - 1] + "…"


@dataclass(frozen=True)
class Cell:
    """One backbone (``backbone`` + ``args``, the required arguments chosen) in one template.
    ``versions`` are those the key is made of: otxgen, torch, the backbone's and the template's
    libraries, and the template's own files (``template_fingerprint``)."""

    backbone: str
    args: dict[str, Any]
    template: str
    task: str
    checks: tuple[str, ...]
    default_arch: bool = True
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def library(self) -> str:
        return self.backbone.partition(".")[0]

    @property
    def arch(self) -> str:
        """The row a cell belongs to: the type, and its arguments when they are not the default."""
        if self.default_arch or not self.args:
            return self.backbone
        return self.backbone + " " + " ".join(f"{k}={canonical_json(v)}" for k, v in sorted(self.args.items()))

    @property
    def needs_input(self) -> bool:
        """A required argument without options: the user must enter it, so nothing can run."""
        return any(value is None for value in self.args.values())

    @property
    def key(self) -> str:
        """Equal for equal work: a changed argument, template, check list or version is a new cell."""
        parts = [self.backbone, self.args, self.template, list(self.checks), self.versions]
        return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:20]

    def to_json(self) -> str:
        return canonical_json({**asdict(self), "checks": list(self.checks)})

    @classmethod
    def from_json(cls, text: str) -> Cell:
        data = json.loads(text)
        return cls(**{**data, "checks": tuple(data["checks"])})


@dataclass(frozen=True)
class StepResult:
    state: StepState
    seconds: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Record:
    """What one cell found. ``furthest``: the last check passed with every check before it (None: not
    even the static one); ``reason``: why the first check that did not pass failed."""

    key: str
    backbone: str
    arch: str
    args: dict[str, Any]
    template: str
    task: str
    checks: tuple[str, ...]
    outcome: Outcome
    furthest: str | None
    reason: str
    steps: dict[str, StepResult]
    input_size: int | None
    seconds: float
    default_arch: bool = True
    worker: str = ""  # where it ran (host:pid): says nothing about the result, ignored by ``same_result``
    node: str = ""  # the Ray node that ran it (address/node id); empty for the local executor
    device: str = ""  # the torch device its models ran on (cpu, cuda)
    gpus: str = ""  # the GPUs its worker was given (CUDA_VISIBLE_DEVICES), by the local pool or by Ray
    backbone_dtype: str = ""  # "bfloat16" where the backbone's float32 weights did not fit the memory limit

    @property
    def library(self) -> str:
        return self.backbone.partition(".")[0]

    @property
    def failed_check(self) -> str | None:
        """The first asked check that did not pass (None when all passed)."""
        passed = CHECKS.index(self.furthest) + 1 if self.furthest else 0
        remaining = [check for check in self.checks if CHECKS.index(check) >= passed]
        return remaining[0] if remaining and self.outcome != "ok" else None

    def to_json(self) -> str:
        data = asdict(self)
        data["checks"] = list(self.checks)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        data["checks"] = tuple(data["checks"])
        data["steps"] = {name: StepResult(**step) for name, step in data["steps"].items()}
        return cls(**data)

    def with_reason(self, reason: str) -> Record:
        return replace(self, reason=one_line(reason))

    def same_result(self) -> Record:
        """This record without what varies from run to run (times, the worker): for comparisons."""
        steps = {name: replace(step, seconds=0.0) for name, step in self.steps.items()}
        return replace(self, steps=steps, seconds=0.0, worker="", node="", gpus="")


def record_of(
    cell: Cell,
    steps: dict[str, StepResult],
    outcome: Outcome | None = None,
    input_size: int | None = None,
    seconds: float = 0.0,
    worker: str = "",
    backbone_dtype: str = "",
) -> Record:
    """The record of ``cell`` from its steps: the outcome (``ok`` when every asked check passed), the
    furthest check passed and the first failure's reason."""
    furthest: str | None = None
    reason = ""
    for check in cell.checks:
        step = steps.get(check)
        if step is None or step.state != "ok":
            reason = step.reason if step is not None and step.reason else reason
            break
        furthest = check
    all_passed = furthest == cell.checks[-1]
    final: Outcome = outcome or ("ok" if all_passed else "failed")
    return Record(
        key=cell.key,
        backbone=cell.backbone,
        arch=cell.arch,
        args=cell.args,
        template=cell.template,
        task=cell.task,
        checks=cell.checks,
        outcome=final,
        furthest=furthest,
        reason=one_line(reason),
        steps=steps,
        input_size=input_size,
        seconds=round(seconds, 3),
        default_arch=cell.default_arch,
        worker=worker,
        backbone_dtype=backbone_dtype,
    )


def stopped_record(
    cell: Cell, outcome: Outcome, reason: str, seconds: float, steps: dict[str, StepResult], worker: str = ""
) -> Record:
    """A cell the supervisor had to stop (hang, crash, out of memory): the steps that had finished
    before it stopped (the static check, say) count; the rest did not run."""
    return record_of(cell, steps, outcome, None, seconds, worker).with_reason(reason)
