"""``otxgen.validate.conforms``: the check of a backbone that proves it valid without jsonschema, held to
jsonschema's own verdict over every committed schema."""

from __future__ import annotations

import random
from typing import Any

import pytest

from otxgen.schema.store import _types, load_schema, starting_arguments
from otxgen.validate.check import _validator_class, as_json
from otxgen.validate.conforms import conforms

# Values of every JSON type and of the forms jsonschema treats apart: bools beside ints, 3.0 beside 3,
# tuples beside lists, empty containers, a norm config.
POOL: list[Any] = [None, True, False, 0, 1, -1, 3.0, 1.5, -0.5, "x", "", [], [0, 1], (0, 3.0), [True], [[1]], {}]
POOL.append({"type": "BN"})


def _jsonschema_valid(schema: dict[str, Any], instance: dict[str, Any]) -> bool:
    return not any(True for _ in _validator_class()(schema).iter_errors(as_json(instance)))


def _instances(schema: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The backbone as a swap starts it, then each argument set to three values of the pool, an unknown
    argument, and each required argument left out."""
    base = {"type": schema["properties"]["type"]["const"], **starting_arguments(schema)}
    instances = [base, {**base, "no_such_argument": 1}]
    for name in schema["properties"]:
        if name != "type":
            instances += [{**base, name: value} for value in rng.sample(POOL, 3)]
    instances += [{key: value for key, value in base.items() if key != name} for name in schema.get("required", [])]
    return instances


def test_conforms_gives_jsonschemas_verdict_on_every_committed_schema() -> None:
    """Never True where jsonschema finds an error (build would write, and the pre-commit hook pass, a
    wrong backbone), and True wherever jsonschema finds none on these values (else every swap pays
    jsonschema's import)."""
    wrong, unproven, proven = [], [], 0
    for backbone_type in _types():
        schema = load_schema(backbone_type)
        for instance in _instances(schema, random.Random(backbone_type)):
            ours, theirs = conforms(schema, instance), _jsonschema_valid(schema, instance)
            proven += ours
            if ours and not theirs:
                wrong.append((backbone_type, instance))
            elif theirs and not ours:
                unproven.append((backbone_type, instance))
    assert not wrong, wrong[:5]
    assert not unproven, unproven[:5]
    assert proven > len(_types())  # each type's starting arguments at least, and some of the values


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer"}, 3.0),  # jsonschema counts 3.0 an integer; otxgen does not
        ({"enum": [1, 2]}, 1.0),  # equal in jsonschema only: it decides
        ({"enum": [0, 1]}, False),
        ({"const": [0, 1]}, [0, True]),
        ({"minimum": 0}, float("nan")),
        ({"patternProperties": {"^a": {}}, "additionalProperties": False}, {"ab": 1}),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1]),
        ({"$ref": "#/$defs/x", "$defs": {"x": {}}}, 1),  # a keyword not decided here
        ({"type": "string", "maxLength": 1}, "x"),
    ],
)
def test_what_conforms_does_not_decide_is_left_to_jsonschema(schema: dict[str, Any], value: Any) -> None:
    assert not conforms(schema, value)


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"type": ["integer", "null"]}, None, True),
        ({"type": "array", "items": {"type": "integer", "minimum": 0}}, (0, 3), True),
        ({"type": "array", "items": {"type": "integer", "minimum": 0}}, (0, -1), False),
        ({"anyOf": [{"type": "null"}, {"type": "object", "required": ["type"]}]}, {"type": "BN"}, True),
        ({"anyOf": [{"type": "null"}, {"type": "object", "required": ["type"]}]}, {}, False),
        ({"properties": {"a": {"const": 1}}, "additionalProperties": False}, {"a": 1}, True),
        ({"properties": {"a": {"const": 1}}, "additionalProperties": False}, {"a": 1, "b": 2}, False),
        ({"type": "string", "format": "uri", "x-otxgen": {"any": "thing"}}, "not a uri", True),
        ({"minimum": 2}, "a string has no minimum", True),
        (True, object(), True),
        (False, None, False),
    ],
)
def test_conforms_on_the_keywords_it_decides(schema: Any, value: Any, valid: bool) -> None:
    assert conforms(schema, value) is valid
    if not isinstance(value, object) or value is None or isinstance(value, (str, tuple, dict)):
        assert _jsonschema_valid(schema, value) is valid  # type: ignore[arg-type]
