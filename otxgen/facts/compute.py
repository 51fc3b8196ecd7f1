"""What a config computes without running it: the builtins and operators mmengine configs use on literals
(``sum([18, 36, 72, 144])``, ``c4 // 2``, ``base + [2048]``, ``chans[-1]``), with bounds on sizes. The one
set of rules: the config view evaluates a file's names with them, and the codemods compare a file's
text with a new value with them. Pure: no parser, no positions."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

# Builtins a config may use on literals that change nothing and return a plain value.
PURE_BUILTINS: dict[str, Any] = {
    "sum": sum, "len": len, "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "str": str, "bool": bool, "tuple": tuple, "list": list, "sorted": sorted,
}  # fmt: skip
UNARY: dict[type[ast.unaryop], Any] = {ast.USub: lambda x: -x, ast.UAdd: lambda x: +x}
ARITHMETIC: dict[type[ast.operator], Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
LONGEST = 10_000  # the most items a computed list may have, the largest exponent's magnitude 64
LARGEST = 2**64  # the largest magnitude a computed number may have


def binary(op: ast.operator, left: Any, right: Any) -> Any:
    """``left op right`` for numbers, ``+`` of two lists or two tuples, ``*`` of one by a small count."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if numbers and type(op) in ARITHMETIC:
        if isinstance(op, ast.Pow) and (abs(right) > 64 or abs(left) > 2**32):
            raise ValueError("too large")
        value = ARITHMETIC[type(op)](left, right)
        if abs(value) > LARGEST:  # ``c * c`` forty times over: a number no config means
            raise ValueError("too large")
        return value
    if isinstance(op, ast.Add) and type(left) is type(right) and isinstance(left, (list, tuple)):
        if len(left) + len(right) > LONGEST:  # ``a = a + a`` fourteen times over
            raise ValueError("too long")
        return left + right
    if isinstance(op, ast.Mult) and isinstance(left, (list, tuple)) and type(right) is int:
        if len(left) * right > LONGEST:
            raise ValueError("too long")
        return left * right
    raise TypeError("not read")


def subscript(value: Any, index: Any) -> Any:
    """``value[index]`` of a list or a tuple (by an int or a slice) or of a mapping (by a key)."""
    if isinstance(value, (list, tuple)) and (type(index) is int or isinstance(index, slice)):
        return value[index]
    if isinstance(value, dict) and isinstance(index, (str, int)) and not isinstance(index, bool):
        return value[index]
    raise TypeError("not read")


def pure_call(name: str, arguments: Sequence[Any]) -> Any:
    """``name(*arguments)`` for a builtin of ``PURE_BUILTINS``. Those whose work grows with what their
    arguments nest (``DEEP``: ``sum(lists, [])`` joins them a copy at a time; ``str``, ``sorted``, ``min``
    and ``max`` print or compare each item through) take at most ``10 * LONGEST`` items in all, counted
    through nested lists, tuples and mappings: ``[[0] * 10000] * 1500`` is 15 million, though Python holds
    one inner list. ``len(classes)`` of a large literal costs nothing and is not counted."""
    if name in DEEP:
        budget = [10 * LONGEST]
        for argument in arguments:
            _spend(argument, budget)
    return PURE_BUILTINS[name](*arguments)


DEEP = frozenset({"sum", "str", "sorted", "min", "max"})


def _spend(value: Any, budget: list[int]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            budget[0] -= len(item)
            if budget[0] < 0:
                raise ValueError("too large")
            stack.extend(item.values() if isinstance(item, dict) else item)
