"""Positions the config view gives (read from Python's syntax tree, columns turned from UTF-8 bytes
into characters) point at what they name, on the configs the libraries ship and on every fixture:
the text at each key's position is that key, the text at each value's position begins that value."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

import pytest

from otxgen.config.located import Where
from otxgen.config.model_config import read_config
from otxgen.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    path
    for library in ("mmdet", "mmseg", "mmpretrain")
    for location in (find_spec(library).submodule_search_locations or [])  # type: ignore[union-attr]
    for path in sorted((Path(location) / ".mim" / "configs").rglob("*.py"))
]
CONFIGS = SHIPPED[::12] + sorted((ROOT / "fixtures").rglob("*.py"))


def _at(lines: list[str], where: Where) -> str:
    return lines[where.line - 1][where.col - 1 :]


def _starts(value: object, text: str) -> bool:
    """Whether ``text`` can begin the source of ``value``: a name (of a value defined before, or a call),
    a parenthesis, or the literal or display of the value's kind."""
    if re.match(r"[^\W\d]|\(", text):
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return re.match(r"[-+.0-9]", text) is not None
    if isinstance(value, str):
        return re.match(r"""['"]""", text) is not None
    return isinstance(value, (list, tuple, dict)) and text[:1] in "[{"


def _value(root: object, path: tuple[object, ...]) -> object:
    for part in path:
        root = root[part]  # type: ignore[index]
    return root


def check(text: str, file: str = "config.py") -> int:
    """Every position of ``text``'s config view checked; how many."""
    facts = read_config(text, file)
    lines = re.split(r"\r\n|\r|\n", text)  # Python's line ends, as its tree counts lines
    checked = 0
    for path, where in facts.names.keys.items():
        key = str(path[-1])
        found = _at(lines, where)
        by_name = re.match(r"[^\W\d]\w*\s*:", found) is not None  # a display's key given by a name: {K: ...}
        assert found.startswith(key) or found.lstrip("rRuU")[1:].startswith(key) or by_name, (file, path, found[:40])
        checked += 1
    for path, where in facts.names.values.items():
        if where.file != file or "*" in path:
            continue
        try:
            value = _value(facts.names.value, path)
        except (KeyError, IndexError, TypeError):
            continue  # unresolved, or forgotten by a later assignment
        assert _starts(value, _at(lines, where)), (file, path, _at(lines, where)[:40])
        checked += 1
    return checked


def test_every_position_points_at_what_it_names() -> None:
    assert len(SHIPPED) > 2000, "the libraries' configs are there"
    checked = 0
    for path in CONFIGS:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            checked += check(text, str(path))
        except InputError:
            continue  # fixtures of bad input
    assert checked > 20000


@pytest.mark.parametrize(
    ("text", "path", "line", "col"),
    [
        ("x = (1, 2)\ny = ( 3, 4)\n", ("y",), 2, 5),  # a tuple starts at its parenthesis (a range covers it)
        ("é = 'ü'; f = dict(g=é, h='ï')  # ünïcode before\n", ("f", "h"), 1, 26),  # characters, not bytes
        ("a = 1\rb = dict(c=2)\n", ("b", "c"), 2, 12),  # a lone CR ends a line for Python
        ("a = 1  # \u2028 \x0c\nb = dict(c=2)\n", ("b", "c"), 2, 12),  # U+2028 and a form feed do not
        ("m = {'k': [1, -2, (3,)]}\n", ("m", "k", 1), 1, 15),
    ],
)
def test_a_value_is_where_the_editor_shows_it(text: str, path: tuple[str, ...], line: int, col: int) -> None:
    facts = read_config(text, "c.py")
    assert facts.names.values[path] == Where("c.py", line, col)
    check(text, "c.py")


def test_an_unresolved_value_keeps_its_code_over_lines() -> None:
    facts = read_config("x = dict(\n    a=f(\n        1, 'é'),\n    b=2)\n", "c.py")
    assert facts.names.unresolved[("x", "a")] == "f(\n        1, 'é')"
