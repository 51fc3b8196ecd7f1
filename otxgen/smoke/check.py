"""Hold the backbone's measured outputs against what the neck / head / anchors expect. Pure.

A *level* is one backbone output: its shape, channels (dim 1) and stride (input side / map side,
for 4-D maps). Every mismatch becomes a one-line problem naming the level and both numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from otxgen.facts.strides import stride_of
from otxgen.facts.values import is_count
from otxgen.smoke.expect import CountDemand, Demand, Expectation

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Level:
    index: int
    shape: Shape | None  # None: the output is not a tensor
    channels: int | None
    stride: int | None
    expected: str  # what the consumers want, for the table
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class LevelReport:
    levels: tuple[Level, ...]
    problems: tuple[str, ...]  # every problem, level ones included, in order
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_levels(shapes: list[Shape | None], input_size: int, expected: Expectation) -> LevelReport:
    """Measured ``shapes`` (one per backbone output) against ``expected``; ``input_size`` is the side."""
    count = len(shapes)
    resolved = [_resolve(d, count) for d in expected.demands]
    levels = [
        _level(i, shape, input_size, [d for d, idx in resolved if idx == i], expected.maps_required)
        for i, shape in enumerate(shapes)
    ]
    problems = [p for c in expected.counts for p in _count_problems(c, count)]
    if not problems:  # a wrong count already explains every output a consumer cannot find
        problems += [
            f"{d.consumer} wants output {d.index}, but the backbone gives {_outputs(count)}"
            for d, idx in resolved
            if idx is None
        ]
    problems += [p for level in levels for p in level.problems]
    problems += _order_problems(levels, expected.strictly_increasing) if expected.ordered else []
    problems += _one_stride_problems(levels, expected.one_stride)
    return LevelReport(tuple(levels), tuple(problems), expected.notes)


def _resolve(demand: Demand, count: int) -> tuple[Demand, int | None]:
    index = demand.index + count if demand.index < 0 else demand.index
    return demand, (index if 0 <= index < count else None)


def _count_problems(demand: CountDemand, count: int) -> list[str]:
    if demand.least <= count and (demand.most is None or count <= demand.most):
        return []
    if demand.least == demand.most:
        wants = f"expects {demand.least}"
    else:
        wants = f"needs at least {demand.least}" if count < demand.least else f"takes at most {demand.most}"
    return [f"the backbone gives {_outputs(count)}, {demand.consumer} {wants} ({demand.reason})"]


def _outputs(count: int) -> str:
    return f"{count} output" if count == 1 else f"{count} outputs"


def _level(index: int, shape: Shape | None, input_size: int, demands: list[Demand], maps_required: bool) -> Level:
    channels = shape[1] if shape is not None and len(shape) >= 2 else None
    is_map = shape is not None and len(shape) == 4
    stride = stride_of(input_size, shape[2]) if is_map and shape is not None else None
    problems = []
    if maps_required and not is_map:
        what = "not a tensor" if shape is None else f"shaped {shape}"
        problems.append(f"level {index}: the output is {what}, not a 4-D (N, C, H, W) feature map")
    for demand in demands:
        if demand.channels is not None and (channels != demand.channels or not is_count(demand.channels)):
            problems.append(f"level {index}: {channels} channels, {demand.consumer} expects {demand.channels}")
        if demand.stride is not None and is_map and stride != demand.stride:
            problems.append(f"level {index}: stride {stride}, {demand.stride_source} expects {demand.stride}")
    return Level(index, shape, channels, stride, _expected_text(demands), tuple(problems))


def _expected_text(demands: list[Demand]) -> str:
    if not demands:
        return "-"
    parts = []
    for demand in demands:
        wants = [
            f"{demand.channels} ch" if demand.channels is not None else "",
            f"stride {demand.stride}" if demand.stride is not None else "",
        ]
        parts.append(", ".join(w for w in wants if w) or "any")
    return "; ".join(dict.fromkeys(parts))


def _one_stride_problems(levels: list[Level], heads: tuple[tuple[str, int], ...]) -> list[str]:
    """A cascade's heads combine their maps: the outputs they read must share one stride."""
    strides = {}
    for name, index in heads:
        position = index + len(levels) if index < 0 else index
        if 0 <= position < len(levels) and levels[position].stride is not None:
            strides[f"{name} (output {position})"] = levels[position].stride
    if len(set(strides.values())) <= 1:
        return []
    read = ", ".join(f"{name} at stride {stride}" for name, stride in strides.items())
    return [f"the cascade's heads combine their maps, so they must read one stride: {read}"]


def _order_problems(levels: list[Level], strictly: bool) -> list[str]:
    """Strides must not shrink; for detection necks they must grow level by level."""
    problems = []
    strided = [(level.index, level.stride) for level in levels if level.stride is not None]
    for (_, before), (index, after) in pairwise(strided):
        if after < before or (strictly and after == before):
            rule = "strictly increasing" if strictly else "non-decreasing"
            problems.append(f"level {index}: stride {after} after stride {before}; strides must be {rule}")
    return problems
