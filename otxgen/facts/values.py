"""Equality of config values, the one definition: pure, no libcst (the consumer facts use it too)."""

from __future__ import annotations

from collections.abc import Mapping


def same_value(left: object, right: object) -> bool:
    """Equal, counting a tuple and a list with equal items as equal (YAML has no tuples): ``==`` on the
    values with every tuple a list, compared item by item without making those copies (a swap compares
    thousands of values)."""
    if isinstance(left, (list, tuple)):
        if not isinstance(right, (list, tuple)) or len(left) != len(right):
            return False
        return all(same_value(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping):
        if not isinstance(right, Mapping) or len(left) != len(right):
            return False
        return all(key in right and same_value(item, right[key]) for key, item in left.items())
    if isinstance(right, (list, tuple, Mapping)):
        return False
    return bool(left == right)


def is_count(value: object) -> bool:
    """A number of channels (or of anything a layer is sized by): an int, not a float equal to one (``4096 /
    2`` is 2048.0, which ``torch.empty`` refuses) and not a bool."""
    return type(value) is int
