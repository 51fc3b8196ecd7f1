"""Neck / head ``in_channels`` (and mmseg ``in_index``) against the backbone's output channels.

Rules (mmengine semantics): when the model has a neck that takes ``in_channels``, only the neck reads
the backbone; heads read the neck. A pooling neck without ``in_channels`` (classifiers) passes the last
feature map through, so ``head.in_channels`` must equal the last output. Without a neck, mmseg heads
pick ``in_index`` (default -1) from the outputs.
"""

from __future__ import annotations

from typing import Any

from otxgen.config.located import Finding, JsonPath, Located, dotted
from otxgen.facts.consumers import Reader, backbone_readers, container_misfit
from otxgen.facts.values import is_count
from otxgen.validate.check import CANNOT


def check_consumers(
    model: dict[str, Any], located: Located, model_path: JsonPath, outputs: list[int] | str
) -> list[Finding]:
    """Findings for every neck/head that reads the backbone's feature maps directly (the facts'
    ``backbone_readers``: the same list build's plan updates and the smoke-build checks)."""
    return [
        f for reader in backbone_readers(model) for f in _compare(reader, (*model_path, *reader.path), located, outputs)
    ]


def check_container(
    model: dict[str, Any], located: Located, model_path: JsonPath, container: str | None
) -> list[Finding]:
    """The form the backbone returns (a tuple, a list, one tensor) against what its first reader takes."""
    misfit = container_misfit(model, container)
    if misfit is None:
        return []
    path = (*model_path, *misfit.path, "type")
    message = f"{misfit.message}; choose a backbone that returns a form it takes"
    return [Finding(located.where(path), dotted(path), message, code="container")]


def _compare(reader: Reader, path: JsonPath, located: Located, outputs: list[int] | str) -> list[Finding]:
    channels_path = (*path, "in_channels")
    if channels_path in located.unresolved:
        return [_note(located, channels_path, f"{CANNOT}: in_channels is {located.unresolved[channels_path]}")]
    consumer = reader.config
    if "in_channels" not in consumer:
        return []
    if isinstance(outputs, str):
        return [_note(located, channels_path, f"{CANNOT}: {outputs}")]
    expected = _select(outputs, reader)
    if isinstance(expected, str):
        return [Finding(located.where((*path, "in_index")), dotted((*path, "in_index")), expected, code="in-index")]
    actual = consumer["in_channels"]
    actual = list(actual) if isinstance(actual, tuple) else actual
    if reader.each and isinstance(expected, list) and all(channels == actual for channels in expected):
        return []
    if isinstance(actual, int) and isinstance(expected, list) and not reader.each:
        if len(expected) != 1:
            return [_note(located, channels_path, f"{CANNOT}: one in_channels for {len(expected)} feature maps")]
        expected = expected[0]
    whole = all(is_count(c) for c in (actual if isinstance(actual, list) else [actual]))
    if actual == expected and whole:
        return []
    message = f"{actual!r} does not match the backbone's output channels {expected!r}"
    if actual == expected:  # 4096 / 2 is 2048.0: a layer takes a whole number of channels
        message = f"{actual!r} holds a number that is not a whole int: the layers it sizes take ints ({expected!r})"
    fix = "" if reader.each else repr(expected)  # a head reading each level at one width: no one value
    return [Finding(located.where(channels_path), dotted(channels_path), message, code="channels", replacement=fix)]


def _select(outputs: list[int], reader: Reader) -> list[int] | int | str:
    """The channels ``reader`` should say: one int for a single-level reader, else one per level read."""
    levels = reader.levels
    if levels is not None and not all(isinstance(i, int) and not isinstance(i, bool) for i in levels):
        return f"in_index {reader.config.get('in_index')!r} is not an integer or a list of integers"
    indices = reader.indices(len(outputs))
    if any(not -len(outputs) <= i < len(outputs) for i in indices):
        return (
            f"in_index {reader.config.get('in_index')!r} is out of range for the backbone's {len(outputs)} feature maps"
        )
    picked = [outputs[i] for i in indices]
    return picked[0] if reader.single and len(picked) == 1 else picked


def _note(located: Located, path: JsonPath, message: str) -> Finding:
    return Finding(located.where(path), dotted(path), message, "note", code="cannot-check")
