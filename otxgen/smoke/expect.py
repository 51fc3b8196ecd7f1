"""What the parts after the backbone expect of its outputs, read from the ``model`` config dict.

Pure: no torch, no mm* import. A *demand* is one consumer's claim on one backbone output (its
channels, and for detectors its stride); a *count demand* is a claim on the number of outputs.
The checks in ``otxgen.smoke.check`` hold the measured outputs against these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codemods.consumers import LEVEL_PRESERVING_NECKS, POOLING_NECKS, first_of, prior_strides


@dataclass(frozen=True)
class Demand:
    """``consumer`` wants backbone output ``index`` (negative: from the end) to have these."""

    consumer: str
    index: int
    channels: int | None = None
    stride: int | None = None
    stride_source: str = ""


@dataclass(frozen=True)
class CountDemand:
    """``consumer`` needs exactly (or at least, when ``exact`` is false) ``count`` outputs."""

    consumer: str
    count: int
    exact: bool
    reason: str


@dataclass(frozen=True)
class Expectation:
    demands: tuple[Demand, ...] = ()
    counts: tuple[CountDemand, ...] = ()
    maps_required: bool = True  # every output must be a 4-D (N, C, H, W) map
    strictly_increasing: bool = False  # strides must grow level by level (detection necks)
    notes: tuple[str, ...] = ()


def _type_name(cfg: Mapping[str, Any]) -> str:
    return str(cfg.get("type", "?")).rpartition(".")[2]


def _ints(value: Any) -> list[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, int) for v in value):
        return [int(v) for v in value]
    return None


def expectation(model: Mapping[str, Any], task: str) -> Expectation:
    """The demands on the backbone's outputs made by the config's neck, decode head(s) or head."""
    neck = first_of(model.get("neck"))
    if task == "classification":
        return _classification(model, neck)
    if neck is not None and "in_channels" in neck:
        return _from_neck(model, neck, task)
    if first_of(model.get("decode_head")) is not None:
        return _from_decode_heads(model)
    return Expectation(notes=("no neck or decode head with in_channels: only the whole-model forward is checked",))


def _from_neck(model: Mapping[str, Any], neck: Mapping[str, Any], task: str) -> Expectation:
    name = f"neck {_type_name(neck)}"
    channels = _ints(neck["in_channels"])
    if channels is None:
        return Expectation(notes=(f"{name}: in_channels {neck['in_channels']!r} is not an int or a list of ints",))
    if isinstance(neck["in_channels"], int):  # a single-input neck reads the last output
        return Expectation(demands=(Demand(f"{name} in_channels", -1, channels[0]),))
    demands = [Demand(f"{name} in_channels[{i}]", i, c) for i, c in enumerate(channels)]
    counts: tuple[CountDemand, ...] = (
        CountDemand(name, len(channels), True, f"in_channels has {len(channels)} entries"),
    )
    start = neck.get("start_level", 0)
    if isinstance(start, int) and start > 0:  # the levels before start_level are skipped, not read
        counts += (CountDemand(name, start + 1, False, f"start_level={start} skips the first {start}"),)
    detecting = task in ("detection", "instance-segmentation")
    notes: tuple[str, ...] = ()
    if detecting and _type_name(neck) in LEVEL_PRESERVING_NECKS:
        demands = _with_prior_strides(model, neck, demands)
    elif detecting:
        notes = (f"{name}: strides are not mapped through this neck type; only their order is checked",)
    return Expectation(tuple(demands), counts, True, detecting, notes)


def _with_prior_strides(model: Mapping[str, Any], neck: Mapping[str, Any], demands: list[Demand]) -> list[Demand]:
    """Neck output j comes from backbone level ``start_level + j``: it must have stride ``strides[j]``."""
    start = int(neck.get("start_level", 0))
    end = int(neck.get("end_level", -1))
    last = len(demands) - 1 if end == -1 else end
    sources = prior_strides(model)
    result = []
    for demand in demands:
        level = demand.index
        stride, source = None, ""
        for path, strides in sources:
            j = level - start
            if start <= level <= last and j < len(strides):
                stride, source = strides[j], f"{path}[{j}] (through {_type_name(neck)} start_level={start})"
                break
        result.append(Demand(demand.consumer, level, demand.channels, stride, source))
    return result


def _from_decode_heads(model: Mapping[str, Any]) -> Expectation:
    demands: list[Demand] = []
    counts: list[CountDemand] = []
    heads = [("decode_head", model.get("decode_head"))]
    auxiliary = model.get("auxiliary_head")
    heads += [("auxiliary_head", a) for a in (auxiliary if isinstance(auxiliary, list) else [auxiliary]) if a]
    for key, head in heads:
        head = first_of(head)
        if head is not None:
            _decode_head_demands(f"{key} {_type_name(head)}", head, demands, counts)
    return Expectation(tuple(demands), tuple(counts), True, False)


def _decode_head_demands(
    name: str,
    head: Mapping[str, Any],
    demands: list[Demand],
    counts: list[CountDemand],
) -> None:
    indices = _ints(head.get("in_index", -1)) or [-1]
    channels = _ints(head.get("in_channels"))
    if channels is not None and len(channels) != len(indices):
        counts.append(
            CountDemand(
                name, len(indices), True, f"in_channels has {len(channels)} entries but in_index has {len(indices)}"
            )
        )
    for k, index in enumerate(indices):
        wanted = channels[k] if channels is not None and k < len(channels) else None
        label = f"{name} in_channels[{k}]" if len(indices) > 1 else f"{name} in_channels"
        demands.append(Demand(label, index, wanted))
    needed = max(max(i + 1 if i >= 0 else -i for i in indices), 1)
    counts.append(CountDemand(name, needed, False, f"in_index {tuple(indices)}"))


def _classification(model: Mapping[str, Any], neck: Mapping[str, Any] | None) -> Expectation:
    """mmpretrain heads read the last output; a pooling neck needs it to be a 4-D map."""
    head = first_of(model.get("head"))
    pooled_by_neck = neck is not None and _type_name(neck) in POOLING_NECKS
    demands: tuple[Demand, ...] = ()
    if head is not None:
        channels = head.get("in_channels")
        if channels is None:
            channels = _task_heads_in_channels(head)
        if isinstance(channels, int):
            demands = (Demand(f"head {_type_name(head)} in_channels", -1, channels),)
    notes = () if pooled_by_neck else ("no pooling neck: the head reads the last output as it is",)
    return Expectation(
        demands, (CountDemand("head", 1, False, "the head reads the last output"),), pooled_by_neck, False, notes
    )


def _task_heads_in_channels(head: Mapping[str, Any]) -> int | None:
    tasks = head.get("task_heads")
    if isinstance(tasks, Mapping):
        for sub in tasks.values():
            if isinstance(sub, Mapping) and isinstance(sub.get("in_channels"), int):
                return int(sub["in_channels"])
    return None
