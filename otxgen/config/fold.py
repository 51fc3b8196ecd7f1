"""Large pure literals out of the way before a config is parsed: what keeps reading linear in the file.

A config may hold a display of tens of thousands of literals (LVIS's class names, a palette; the input
limit is 5 MiB). Python's syntax tree of such a display costs about 90 bytes of memory a byte of text,
libcst's several times more, and neither is needed: the value is a literal, and nothing inside it is
ever changed by a swap or checked by validate. ``fold`` finds each display of at least ``FOLD_BYTES``
made of literals alone (strings without an ``f`` prefix, numbers, ``True``/``False``/``None``, and
such displays one level down), evaluates it without a syntax tree where it is a flat run of plain
strings (``re``), else with ``ast.literal_eval``, and puts in its place a parenthesised name of the
same extent: every line and column outside it is where it was.

Anything unexpected (a display that is a call's or a subscript's brackets, a match that began inside a
string, a value ``literal_eval`` refuses) leaves the text as it was: folding only ever saves time.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

FOLD_BYTES = 64 * 1024
PREFIX = "_otxgen_literal_"

_STRING = (
    r"(?:[rRuU]|[bB][rR]?|[rR][bB])?"
    r"""(?:'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
)
_NUMBER = r"(?:0[xXoObB][0-9a-fA-F_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?[jJ]?)"
_ATOM = rf"(?>\s+|\#[^\n]*|[,:+\-]|{_STRING}|{_NUMBER}|True\b|False\b|None\b)"
_FLAT = rf"[\[({{]{_ATOM}*+[\])}}]"
# A display of literals and flat displays, not preceded by what would make its brackets a call's or a
# subscript's (a name, a closing bracket, a string).
_DISPLAY = re.compile(rf"(?<![\w)\]}}'\"\s])(\s*)([\[({{](?>{_ATOM}|{_FLAT})*+[\])}}])")
_PLAIN = r"""(?:'[^'\\\n]*'|"[^"\\\n]*")"""
_PLAIN_RUN = re.compile(rf"\s*(?:{_PLAIN}\s*,\s*)+(?:{_PLAIN}\s*)?")
_PLAIN_ITEM = re.compile(r"""'([^'\\\n]*)'|"([^"\\\n]*)\"""")
_PAIRS = {"(": ")", "[": "]", "{": "}"}


@dataclass
class Folded:
    """``text`` with its large literals replaced; ``values`` by placeholder name."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


def fold(text: str) -> Folded:
    """``text`` with every pure-literal display of ``FOLD_BYTES`` or more replaced by ``(NAME   )`` of
    the same lines and columns, and the displays' values by ``NAME``; ``text`` itself where there is
    none, or where folding would change what the file means."""
    if len(text) < FOLD_BYTES or PREFIX in text:
        return Folded(text)
    pieces: list[str] = []
    values: dict[str, Any] = {}
    last = 0
    for match in _DISPLAY.finditer(text):
        start, end = match.span(2)
        if end - start < FOLD_BYTES or _PAIRS[text[start]] != text[end - 1]:
            continue
        name = f"{PREFIX}{len(values)}"
        try:
            value = _value(text[start:end])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        values[name] = value
        pieces += [text[last:start], "(", name, _blank(text, start + 1, end - 1, len(name)), ")"]
        last = end
    if not values:
        return Folded(text)
    folded = "".join([*pieces, text[last:]])
    return Folded(folded, values) if _names_in_place(folded, values) else Folded(text)


def _blank(text: str, start: int, end: int, used: int) -> str:
    """What fills ``text[start:end]`` after ``used`` characters of a name: as many line breaks, then as
    many spaces as keep the column of what follows where anything but a comment follows the display
    on its last line (else none)."""
    breaks = text.count("\n", start, end)
    line_end = text.find("\n", end)
    rest = text[end : len(text) if line_end < 0 else line_end].split("#", 1)[0]
    if not re.search(r"[^\s)\]}]", rest):
        return "\n" * breaks
    if not breaks:
        return " " * (end - start - used)
    return "\n" * breaks + " " * (end - text.rfind("\n", start, end) - 1)


def _value(display: str) -> Any:
    """A display's value: a flat run of plain strings read by ``re``, anything else by ``literal_eval``."""
    inner = display[1:-1]
    if _PLAIN_RUN.fullmatch(inner):
        items = [single + double for single, double in _PLAIN_ITEM.findall(inner)]  # one is empty
        return {"(": tuple, "[": list, "{": set}[display[0]](items)
    return ast.literal_eval(display)


def _names_in_place(folded: str, values: dict[str, Any]) -> bool:
    """Whether each placeholder is a name of the folded module once (not text inside a string that a
    match began in); a folded text that no longer parses is refused the same way."""
    try:
        tree = ast.parse(folded)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    found = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id.startswith(PREFIX)]
    return sorted(found) == sorted(values)
