"""Neck / head ``in_channels`` (and mmseg ``in_index``) against the backbone's output channels.

Rules (mmengine semantics): when the model has a neck that takes ``in_channels``, only the neck reads
the backbone; heads read the neck. A pooling neck without ``in_channels`` (classifiers) passes the last
feature map through, so ``head.in_channels`` must equal the last output. Without a neck, mmseg heads
pick ``in_index`` (default -1) from the outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codemods.consumers import HEAD_KEYS, REVERSED_NECKS, is_pooling_neck, type_name
from otxgen.validate.check import CANNOT
from otxgen.validate.located import Finding, JsonPath, Located, dotted


def check_consumers(
    model: dict[str, Any], located: Located, model_path: JsonPath, outputs: list[int] | str
) -> list[Finding]:
    """Findings for every neck/head that reads the backbone's feature maps directly."""
    findings: list[Finding] = []
    neck_path, neck = _first(model.get("neck"), (*model_path, "neck"))
    if isinstance(neck, dict) and not _passes_through(neck):
        reverse = type_name(neck) in REVERSED_NECKS
        return _compare(
            neck, neck_path, located, outputs[::-1] if reverse and isinstance(outputs, list) else outputs, None
        )
    for key in HEAD_KEYS:
        for head_path, head in _each(model.get(key), (*model_path, key)):
            default_index: int | None = -1 if key != "head" or neck is not None else None
            findings += _compare(head, head_path, located, outputs, default_index)
    return findings


def _passes_through(neck: dict[str, Any]) -> bool:
    return "in_channels" not in neck and is_pooling_neck(neck)


def _first(value: Any, path: JsonPath) -> tuple[JsonPath, Any]:
    if isinstance(value, list) and value:
        return (*path, 0), value[0]
    return path, value


def _each(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    if isinstance(value, dict):
        yield path, value
    elif isinstance(value, list):
        yield from (((*path, i), item) for i, item in enumerate(value) if isinstance(item, dict))


def _compare(
    consumer: dict[str, Any], path: JsonPath, located: Located, outputs: list[int] | str, default_index: int | None
) -> list[Finding]:
    """``default_index``: mmseg's ``in_index`` default (-1); ``None`` where the consumer reads every output."""
    channels_path = (*path, "in_channels")
    if channels_path in located.unresolved:
        return [_note(located, channels_path, f"{CANNOT}: in_channels is {located.unresolved[channels_path]}")]
    if "in_channels" not in consumer:
        return []
    if isinstance(outputs, str):
        return [_note(located, channels_path, f"{CANNOT}: {outputs}")]
    # mmseg's decode heads take one int unless in_index selects several maps; a head with a list of
    # in_channels and no in_index (Mask2FormerHead, from mmdet) reads every feature map.
    listed = isinstance(consumer["in_channels"], (list, tuple))
    index = consumer.get("in_index", None if listed else default_index)
    expected = _select(outputs, index)
    if isinstance(expected, str):
        return [Finding(located.where((*path, "in_index")), dotted((*path, "in_index")), expected)]
    actual = consumer["in_channels"]
    actual = list(actual) if isinstance(actual, tuple) else actual
    if isinstance(actual, int) and isinstance(expected, list):
        if len(expected) != 1:
            return [_note(located, channels_path, f"{CANNOT}: one in_channels for {len(expected)} feature maps")]
        expected = expected[0]
    if actual == expected:
        return []
    message = f"{actual!r} does not match the backbone's output channels {expected!r}"
    return [Finding(located.where(channels_path), dotted(channels_path), message)]


def _select(outputs: list[int], index: Any) -> list[int] | int | str:
    try:
        if index is None:
            return outputs
        if isinstance(index, int):
            return outputs[index]
        if isinstance(index, (list, tuple)) and all(isinstance(i, int) for i in index):
            return [outputs[i] for i in index]
    except IndexError:
        return f"in_index {index!r} is out of range for the backbone's {len(outputs)} feature maps"
    return f"in_index {index!r} is not an integer or a list of integers"


def _note(located: Located, path: JsonPath, message: str) -> Finding:
    return Finding(located.where(path), dotted(path), message, "note")
