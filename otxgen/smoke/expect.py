"""What the parts after the backbone expect of its outputs, read from the ``model`` config dict.

Pure: no torch, no mm* import. A *demand* is one consumer's claim on one backbone output (its
channels, and for detectors its stride); a *count demand* is a claim on the number of outputs.
The checks in ``otxgen.smoke.check`` hold the measured outputs against these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from otxgen.facts.consumers import (
    POOLING_NECKS,
    RESCALING_NECKS,
    Reader,
    backbone_readers,
    cascade_levels,
    first_of,
    known_as,
    level_strides,
    most_levels,
    type_name,
)


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
    """``consumer`` needs at least ``least`` outputs and takes at most ``most`` (None: any number)."""

    consumer: str
    least: int
    most: int | None
    reason: str


@dataclass(frozen=True)
class Expectation:
    demands: tuple[Demand, ...] = ()
    counts: tuple[CountDemand, ...] = ()
    maps_required: bool = True  # every output must be a 4-D (N, C, H, W) map
    strictly_increasing: bool = False  # strides must grow level by level (detection necks)
    notes: tuple[str, ...] = ()
    one_stride: tuple[tuple[str, int], ...] = ()  # (consumer, output index) pairs whose maps share a stride
    ordered: bool = True  # strides must not shrink: the strides the detector's anchors and RoIs were built for


def _ints(value: Any) -> list[int] | None:
    """The channel counts a consumer says, as it says them: a float among them stays one (``4096 / 2``),
    for the level check to find (``facts.values.is_count``)."""

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if number(value):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str) and all(number(v) for v in value):
        return list(value)
    return None


def expectation(model: Mapping[str, Any], task: str) -> Expectation:
    """The demands on the backbone's outputs made by the consumers that read them (the facts'
    ``backbone_readers``): a neck, decode head(s), a direct detection head or a classifier's head; and
    a cascade's heads, whose maps must come at one stride."""
    found = _expectation(model, task)
    cascade = tuple(cascade_levels(model))
    return replace(found, one_stride=cascade) if len(cascade) > 1 else found


def _expectation(model: Mapping[str, Any], task: str) -> Expectation:
    readers = [r for r in backbone_readers(model) if _ints(r.config.get("in_channels")) is not None]
    if task == "classification" and not (readers and readers[0].path[0] == "neck"):
        return _classification(model, first_of(model.get("neck")))  # the head reads the last output
    if not readers:
        return Expectation(
            notes=("no neck or head with in_channels reads the backbone: only the whole-model forward is checked",)
        )
    if readers[0].path[0] == "neck":
        return _from_neck(model, readers[0], task)
    demands: list[Demand] = []
    counts: list[CountDemand] = []
    for reader in readers:
        _reader_demands(reader, demands, counts)
    detecting = task in ("detection", "instance-segmentation")
    growing = detecting and all(r.levels is None for r in readers)
    return Expectation(tuple(demands), tuple(counts), True, growing, ordered=detecting)


def _from_neck(model: Mapping[str, Any], reader: Reader, task: str) -> Expectation:
    neck = reader.config
    name = f"neck {type_name(neck) or '?'}"
    channels = _ints(neck["in_channels"]) or []
    if reader.single:  # a single-input neck reads the last output (YOLOF's keeps its stride)
        detecting = task in ("detection", "instance-segmentation")
        stride, source = level_strides(model).get(-1, (None, "")) if detecting else (None, "")
        return Expectation(demands=(Demand(f"{name} in_channels", -1, channels[0], stride, source),))
    order = reader.indices(len(channels))
    demands = [Demand(f"{name} in_channels[{k}]", i, channels[k]) for k, i in enumerate(order)]
    demands.sort(key=lambda demand: demand.index)
    counts: tuple[CountDemand, ...] = (
        CountDemand(name, len(channels), len(channels), f"in_channels has {len(channels)} entries"),
    )
    start = neck.get("start_level", 0)
    if isinstance(start, int) and start > 0:  # the levels before start_level are skipped, not read
        counts += (CountDemand(name, start + 1, None, f"start_level={start} skips the first {start}"),)
    capped = most_levels(neck)
    if capped is not None:
        counts += (CountDemand(name, 1, *capped),)
    detecting = task in ("detection", "instance-segmentation")
    growing = detecting and not known_as(neck, RESCALING_NECKS)  # a rescaling neck reads one stride
    notes: tuple[str, ...] = ()
    strides = level_strides(model) if detecting else {}
    if strides:
        demands = [Demand(d.consumer, d.index, d.channels, *strides.get(d.index, (None, ""))) for d in demands]
    elif detecting:
        notes = (f"{name}: strides are not mapped through this neck type; only their order is checked",)
    return Expectation(tuple(demands), counts, True, growing, notes, ordered=detecting)


def _reader_demands(reader: Reader, demands: list[Demand], counts: list[CountDemand]) -> None:
    """A head that reads the backbone itself: one demand per level it reads, and the outputs it needs."""
    name = reader.name
    channels = _ints(reader.config.get("in_channels")) or []
    if reader.each:  # one int for every output
        demands += [Demand(f"{name} in_channels", index, channels[0]) for index in (0, -1)]
        counts.append(CountDemand(name, 1, None, "it reads every output"))
        return
    if reader.levels is None:
        order = reader.indices(len(channels))
        counts.append(CountDemand(name, len(channels), len(channels), f"in_channels has {len(channels)} entries"))
    else:
        order = list(reader.levels)
        if not reader.single and len(channels) != len(order):
            reason = f"in_channels has {len(channels)} entries but in_index has {len(order)}"
            counts.append(CountDemand(name, len(order), len(order), reason))
        needed = max(max(i + 1 if i >= 0 else -i for i in order), 1)
        counts.append(CountDemand(name, needed, None, f"in_index {tuple(order)}"))
    for k, index in enumerate(order):
        wanted = channels[k] if k < len(channels) and (not reader.single or len(order) == 1) else None
        label = f"{name} in_channels[{k}]" if len(order) > 1 else f"{name} in_channels"
        demands.append(Demand(label, index, wanted))


def _classification(model: Mapping[str, Any], neck: Mapping[str, Any] | None) -> Expectation:
    """mmpretrain heads read the last output, in any order of strides; a pooling neck of 2-D maps (its
    ``dim``, 2 by default: 1 pools an MLP-Mixer's tokens) needs it to be a 4-D map."""
    head = first_of(model.get("head"))
    pooled_by_neck = neck is not None and bool(known_as(neck, POOLING_NECKS))
    maps = pooled_by_neck and neck is not None and neck.get("dim", 2) == 2
    demands: tuple[Demand, ...] = ()
    if head is not None:
        channels = head.get("in_channels")
        if channels is None:
            channels = _task_heads_in_channels(head)
        if isinstance(channels, int):
            demands = (Demand(f"head {type_name(head) or '?'} in_channels", -1, channels),)
    notes = () if pooled_by_neck else ("no pooling neck: the head reads the last output as it is",)
    count = CountDemand("head", 1, None, "the head reads the last output")
    return Expectation(demands, (count,), maps, notes=notes, ordered=False)


def _task_heads_in_channels(head: Mapping[str, Any]) -> int | None:
    tasks = head.get("task_heads")
    if isinstance(tasks, Mapping):
        for sub in tasks.values():
            if isinstance(sub, Mapping) and isinstance(sub.get("in_channels"), int):
                return int(sub["in_channels"])
    return None
