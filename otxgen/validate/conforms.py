"""Whether a value is proven to conform to a backbone's schema, without jsonschema.

A check of a valid backbone is what build and the pre-commit hook do on nearly every run, and importing
jsonschema (with referencing, attrs and the meta-schemas) costs as much as the rest of the swap. The
schemas otxgen writes use a handful of Draft 2020-12 keywords; for those, ``conforms`` decides as
jsonschema does (``integer`` as ``check.py`` redefines it: a Python int, never a bool, never ``3.0``).

It only ever proves: True means jsonschema would report no error. False means the value may not conform,
or the schema uses a keyword not decided here, or two values compare equal in jsonschema only (``1`` and
``1.0``): jsonschema then decides, and explains each error. A test holds the first promise over every
committed schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Keywords that never fail a value: annotations, and those Draft 2020-12 asserts only on request.
_ANNOTATIONS = frozenset({"$id", "$schema", "$comment", "title", "description", "default", "examples", "format"})

_TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "array": lambda value: isinstance(value, (list, tuple)),  # a config's tuple is a JSON array
    "object": lambda value: isinstance(value, dict),
}


def conforms(schema: Any, value: Any) -> bool:
    """True only where ``value`` is valid under ``schema`` (a mapping, or the booleans JSON Schema allows)."""
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, expected in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        decide = _KEYWORDS.get(keyword)
        if decide is None or not decide(expected, value, schema):
            return False
    return True


def _type(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    names = expected if isinstance(expected, list) else [expected]
    return any(name in _TYPES and _TYPES[name](value) for name in names)


def _same(one: Any, two: Any) -> bool:
    """Equal and of one type all the way down: what jsonschema's equality also holds equal."""
    if type(one) is not type(two) and not (isinstance(one, (list, tuple)) and isinstance(two, (list, tuple))):
        return False
    if isinstance(one, (list, tuple)):
        return len(one) == len(two) and all(_same(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict):
        return one.keys() == two.keys() and all(_same(item, two[key]) for key, item in one.items())
    return bool(one == two)


def _enum(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    return isinstance(expected, list) and any(_same(value, option) for option in expected)


def _const(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    return _same(value, expected)


def _properties(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    return isinstance(expected, dict) and all(
        conforms(expected[key], item) for key, item in value.items() if key in expected
    )


def _additional(expected: Any, value: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    if "patternProperties" in schema:  # not decided here: which keys are additional needs the patterns
        return False
    known = schema.get("properties", {})
    return all(conforms(expected, item) for key, item in value.items() if key not in known)


def _required(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    return not isinstance(value, dict) or (isinstance(expected, list) and all(key in value for key in expected))


def _items(expected: Any, value: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(value, (list, tuple)):
        return True
    return "prefixItems" not in schema and all(conforms(expected, item) for item in value)


def _any_of(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    return isinstance(expected, list) and any(conforms(branch, value) for branch in expected)


def _minimum(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    return not _TYPES["number"](value) or (_TYPES["number"](expected) and value >= expected)


_KEYWORDS: dict[str, Callable[[Any, Any, dict[str, Any]], bool]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "items": _items,
    "anyOf": _any_of,
    "minimum": _minimum,
}
