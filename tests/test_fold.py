"""Large pure literals are read apart (``otxgen.config.fold``): same values, same positions, linear cost.

The values are compared with ``ast.literal_eval`` of the original display and the positions with
Python's own parser of the original text, never with figures typed in here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.cli import main
from otxgen.config.fold import FOLD_BYTES, PREFIX, fold
from otxgen.config.model_config import read_config
from otxgen.errors import InputError

COUNT = FOLD_BYTES // 8  # enough items for any display below to pass the folding size


def names(count: int = COUNT) -> str:
    return "(" + ", ".join(f"'c{i:05d}'" for i in range(count)) + ")"


DISPLAYS = {
    "plain strings": names(),
    "plain strings, a list over lines, a trailing comma": "[\n" + "".join(f'    "n{i}",\n' for i in range(COUNT)) + "]",
    "a set of strings": "{" + ", ".join(f"'s{i}'" for i in range(COUNT)) + "}",
    "a palette": "[" + ", ".join(f"({i % 256}, {i * 7 % 256}, -{i % 3})" for i in range(COUNT)) + "]",
    "dict displays in a list": "["
    + ", ".join(f"{{'k{i}': [{i}, {i}.5, None, True]}}" for i in range(COUNT // 3))
    + "]",
    "numbers three levels down": "[" + ", ".join(f"[[{i}, 1.5], [-2, 3e2]]" for i in range(COUNT // 2)) + "]",
    "integers": "(" + ", ".join(str(i) for i in range(COUNT * 2)) + ",)",
    "numbers JSON does not read": "[" + ", ".join(f"{i}., .5, 1_0" for i in range(COUNT)) + "]",
    "escapes, prefixes, comments and concatenation": "(\n"
    + "".join(f"    r'a\\{i}', b'x', 'a' 'b', \"q'\\n\",  # note {i}\n" for i in range(COUNT // 6))
    + ")",
}


def module(display: str) -> str:
    """A config with the display bound to a name, then a model after it on the same line and below."""
    return (
        "# a config\n"
        f"classes = {display}; after = dict(type='x')\n"
        "model = dict(\n"
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='ResNet', depth=18),\n"
        "    head=dict(type='LinearClsHead', num_classes=len(classes), in_channels=512))\n"
    )


def positions(text: str) -> dict[str, tuple[int, int]]:
    """Where Python's parser puts, outside the display, the targets ``after`` and ``model``, the value
    of ``after``'s ``type`` (on the display's line) and of ``depth`` (below it)."""
    found = {}
    for node in ast.parse(text).body:
        for small in [node] if isinstance(node, ast.Assign) else []:
            name = small.targets[0]
            assert isinstance(name, ast.Name)
            found[name.id] = (name.lineno, name.col_offset + 1)
            for keyword in [k for call in ast.walk(small.value) if isinstance(call, ast.Call) for k in call.keywords]:
                if (name.id, keyword.arg) in (("after", "type"), ("model", "depth")):
                    found[str(keyword.arg)] = (keyword.value.lineno, keyword.value.col_offset + 1)
    return found


@pytest.mark.parametrize("kind", sorted(DISPLAYS))
def test_a_folded_display_reads_to_its_value_and_keeps_every_position_around_it(kind: str) -> None:
    text = module(DISPLAYS[kind])
    folded = fold(text)
    assert list(folded.values) == [f"{PREFIX}0"], "the display is folded"
    assert len(folded.text) <= len(text) and folded.text.count("\n") == text.count("\n")
    expected = ast.literal_eval(DISPLAYS[kind])
    assert folded.values[f"{PREFIX}0"] == expected and type(folded.values[f"{PREFIX}0"]) is type(expected)
    facts = read_config(text, "c.py")
    assert facts.get("classes") == expected
    assert facts.get("model")["head"]["num_classes"] == len(expected)
    assert not facts.undefined and not facts.opaque
    original = positions(text)
    for name, key in (("after", ("after",)), ("model", ("model",))):
        where = facts.names.where(key, key=True)
        assert (where.line, where.col) == original[name], name
    for keyword, path in (("type", ("after", "type")), ("depth", ("model", "backbone", "depth"))):
        where = facts.names.where(path)
        assert (where.line, where.col) == original[keyword], keyword


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"x = print{names()}\n", id="a call's brackets"),
        pytest.param(f"x = {{}}\ny = x[{names()[1:-1]}]\n", id="a subscript"),
        pytest.param(f"x = {names()[:-1]}, f'{{y}}')\n", id="an f-string inside"),
        pytest.param(f"x = '''{names()}'''\n", id="inside a string"),
        pytest.param(f"x = {names()[:-1]}, y)\n", id="a name inside"),
        pytest.param("x = (" + "1, " * (FOLD_BYTES // 6) + ")\n", id="numbers below the size"),
    ],
)
def test_what_is_not_a_large_pure_display_stays_as_written(text: str) -> None:
    assert fold(text).text == text
    assert not fold(text).values


def test_a_placeholder_like_name_in_the_text_takes_another_name() -> None:
    text = f"# {PREFIX}0 in a comment\n{PREFIX}0 = 1\nx = {names()}\n"
    folded = fold(text)
    assert len(folded.values) == 1 and PREFIX + "_0" in folded.text
    assert (
        read_config(text, "c.py").get("x") == ast.literal_eval(names())
        and read_config(text, "c.py").get(f"{PREFIX}0") == 1
    )


def _same_reading(text: str) -> None:
    """``text`` is not folded, and reads (or fails) as its twin with the display below the size does."""
    assert not fold(text).values
    small = text.replace(names(), names(8))
    try:
        expected = read_config(small, "c.py").names.value
    except InputError as error:
        with pytest.raises(InputError, match=re.escape(error.cause)):
            read_config(text, "c.py")
    else:
        assert read_config(text, "c.py").names.value.keys() == expected.keys()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"x = {names()}\n".replace(", ", ",\u00a0", 1), id="a no-break space between items"),
        pytest.param(f"x = {names()}\n".replace(", ", ",\u2028", 1), id="a line separator between items"),
        pytest.param(f"x = {names()}\n".replace(", ", ",\v", 1), id="a vertical tab between items"),
        pytest.param(f"x = {names()}\n".replace("c00001", "c\r0001", 1), id="a lone carriage return in a string"),
        pytest.param(f"{names()} = 1\n", id="an assignment target"),
        pytest.param(f"n = len\\\n{names()[1:-1].join('[]')}\n", id="a subscript after a line continuation"),
        pytest.param(f"x = dict(a=len  # count:\n    {names()[1:-1].join('[]')})\n", id="a subscript after a comment"),
        pytest.param(f"t = tuple\\\n{names()[1:-1].join('[]')}\n", id="a type's subscript"),
    ],
)
def test_a_display_whose_folding_would_change_the_reading_stays_as_written(text: str) -> None:
    _same_reading(text)


def test_a_bad_display_does_not_keep_the_others_from_folding() -> None:
    text = f"s = '''x = -{names()}'''\ny = {names()}\n"
    folded = fold(text)
    assert list(folded.values.values()) == [ast.literal_eval(names())]
    assert read_config(text, "c.py").get("s") == ast.literal_eval(text.split("\n", 1)[0][4:])


def test_a_dict_display_keeps_the_positions_of_its_keys_and_folds_its_large_values_alone() -> None:
    text = (
        "model = dict(\n"
        "    backbone={\n"
        f"        'type': 'mmdet.ResNet', 'depth': 18, 'frozen_stages': 9, 'pad': {names()[1:-1].join('[]')}}})\n"
    )
    folded = fold(text)
    assert list(folded.values.values()) == [ast.literal_eval(names()[1:-1].join("[]"))]
    facts = read_config(text, "c.py")
    where = facts.names.where(("model", "backbone", "frozen_stages"))
    assert (where.line, where.col) == (3, text.splitlines()[2].index("9") + 1)


def test_validate_reports_after_a_large_literal_at_the_position_of_the_unfolded_file(tmp_path: Path) -> None:
    text = module(names()).replace("depth=18", "depth=17")
    path = tmp_path / "model.py"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    line, col = positions(text)["depth"]
    assert result.exit_code == 1, result.output
    assert f"model.py:{line}:{col}:" in result.output and "17" in result.output
