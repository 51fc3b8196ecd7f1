"""Equality of config values, the one definition: pure, no libcst (the consumer facts use it too)."""

from __future__ import annotations

from collections.abc import Mapping


def same_value(left: object, right: object) -> bool:
    """Equal, counting a tuple and a list with equal items as equal (YAML has no tuples)."""
    return _normalized(left) == _normalized(right)


def _normalized(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [_normalized(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _normalized(item) for key, item in value.items()}
    return value


def is_count(value: object) -> bool:
    """A number of channels (or of anything a layer is sized by): an int, not a float equal to one (``4096 /
    2`` is 2048.0, which ``torch.empty`` refuses) and not a bool."""
    return type(value) is int
