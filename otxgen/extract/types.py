"""Python types (annotations or docstring type text) -> JSON Schema fragments.

``None`` from these functions means "no constraint could be derived" (an unknown or opaque type):
the caller then falls back to the next source (docstring, then the default's type).
JSON has no tuple: tuples and sequences become arrays with an ``items`` schema.
"""

from __future__ import annotations

import collections.abc
import re
import types
import typing
from typing import Any

Schema = dict[str, Any]

_SCALARS = {
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "str": "string",
    "string": "string",
    "none": "null",
    "nonetype": "null",
}
_OBJECTS = {"dict", "configdict", "mapping", "config", "configtype", "multiconfig", "obj", "ordereddict"}
_OPTIONAL_OBJECTS = {"optconfigtype", "optmulticonfig"}
_ARRAYS = {"list", "tuple", "sequence", "iterable"}
_DROPPED_WORDS = {"optional", "required", "default none"}


def union(schemas: list[Schema]) -> Schema:
    """One schema accepting any of ``schemas``: merged ``type`` lists when all are bare types, else anyOf."""
    unique: list[Schema] = []
    for schema in schemas:
        for part in schema.get("anyOf", [schema]):
            if part not in unique:
                unique.append(part)
    if len(unique) == 1:
        return unique[0]
    if all(set(part) == {"type"} for part in unique):
        names: list[str] = []
        for part in unique:
            for name in part["type"] if isinstance(part["type"], list) else [part["type"]]:
                if name not in names:
                    names.append(name)
        return {"type": names if len(names) > 1 else names[0]}
    return {"anyOf": unique}


def from_text(text: str | None) -> Schema | None:
    """Schema for a docstring type such as ``int | None``, ``Sequence[int]``, ``dict or list[dict], optional``."""
    if not text:
        return None
    cleaned = re.sub(r":?(?:obj|class):", "", text).replace("`", "").strip()
    parts = [p for p in _split_top(cleaned, ("|", " or ", ",")) if p.strip().lower() not in _DROPPED_WORDS]
    if not parts:
        return None
    schemas = [_text_alternative(part.strip()) for part in parts]
    if any(schema is None for schema in schemas):
        return None
    return union([s for s in schemas if s is not None])


def _split_top(text: str, separators: tuple[str, ...]) -> list[str]:
    parts, depth, start, index = [], 0, 0, 0
    while index < len(text):
        char = text[index]
        depth += 1 if char in "[(" else -1 if char in "])" else 0
        sep = next((s for s in separators if depth == 0 and text.startswith(s, index)), None)
        if sep:
            parts.append(text[start:index])
            index += len(sep)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _text_alternative(text: str) -> Schema | None:
    match = re.fullmatch(r"([A-Za-z_][\w.]*)\s*(?:[\[(](.*)[\])])?(?:\s+of\s+(\w+))?", text)
    if not match:
        return None
    name = match.group(1).rsplit(".", 1)[-1].lower()
    inner = match.group(2) if match.group(2) is not None else match.group(3)
    if name in _SCALARS and inner is None:
        return {"type": _SCALARS[name]}
    if name in _OBJECTS:
        return {"type": "object"}
    if name in _OPTIONAL_OBJECTS:
        return {"type": ["object", "null"]}
    if name in _ARRAYS:
        return _array(None if inner is None else from_text(inner.replace("...", "").rstrip(", ")))
    if name == "optional" and inner is not None:
        items = from_text(inner)
        return None if items is None else union([items, {"type": "null"}])
    if name == "union" and inner is not None:
        return from_text(inner)
    if name == "literal" and inner is not None:
        return _literal_text(inner)
    return None


def _array(items: Schema | None) -> Schema:
    return {"type": "array", "items": items} if items else {"type": "array"}


def _literal_text(inner: str) -> Schema | None:
    import ast

    try:
        values = ast.literal_eval(f"[{inner}]")
    except (ValueError, SyntaxError):
        return None
    return enum_schema(values)


def enum_schema(values: list[Any] | tuple[Any, ...]) -> Schema | None:
    """``{"type": ..., "enum": [...]}`` for literal values of one JSON type, else None."""
    kinds = {json_type(v) for v in values}
    if not values or None in kinds or len(kinds) != 1:
        return None
    return {"type": kinds.pop(), "enum": list(values)}


def json_type(value: Any) -> str | None:
    """The JSON type name of a Python value, or None when it has none."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def from_hint(hint: Any) -> Schema | None:
    """Schema for a typing annotation object (``Optional[int]``, ``Sequence[int]``, ``Literal['a']``...)."""
    if hint is typing.Any or hint is None:
        return None
    if hint is type(None):
        return {"type": "null"}
    if isinstance(hint, str):
        return from_text(hint)
    origin = typing.get_origin(hint)
    if origin is None:
        return _plain_class(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        schemas = [from_hint(arg) for arg in args]
        return None if any(s is None for s in schemas) else union([s for s in schemas if s is not None])
    if origin is typing.Literal:
        return enum_schema(list(args))
    if isinstance(origin, type) and issubclass(origin, (list, tuple, collections.abc.Sequence)):
        items = [from_hint(a) for a in args if a is not Ellipsis]
        known = [i for i in items if i is not None]
        return _array(union(known) if known and len(known) == len(items) else None)
    if isinstance(origin, type) and issubclass(origin, collections.abc.Mapping):
        return {"type": "object"}
    return None


def _plain_class(hint: Any) -> Schema | None:
    if not isinstance(hint, type):
        return None
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if issubclass(hint, python_type):
            return {"type": name}
    if issubclass(hint, collections.abc.Mapping):
        return {"type": "object"}
    if issubclass(hint, (list, tuple)) or hint is collections.abc.Sequence:
        return {"type": "array"}
    return None
