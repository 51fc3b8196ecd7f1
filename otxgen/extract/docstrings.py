"""Read OpenMMLab-style (Google-style) docstrings: the ``Args:`` section, argument by argument.

Pure functions on text. An entry looks like ``depth (int): Depth of resnet, from {18, 34, 50, 101, 152}.``
with continuation lines indented deeper than the entry; nested bullet lists inside a description
(``- cfg (dict, required): ...``) stay part of that description.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Kwargs)\s*:\s*$")
_OTHER_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ENTRY_NAME = re.compile(r"^\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*")
_OPTION_SET = re.compile(r"\{([^{}:]*)\}")


@dataclass(frozen=True)
class ArgDoc:
    """One documented argument: the type text as written, the description, and an option set if any."""

    name: str
    type_text: str | None
    description: str
    options: tuple[Any, ...] | None = None


def parse_args_section(doc: str | None) -> dict[str, ArgDoc]:
    """Every argument documented in ``doc``'s ``Args:`` sections, by name (first mention wins)."""
    result: dict[str, ArgDoc] = {}
    for name, head, body in _raw_entries(doc or ""):
        if name in result:
            continue
        type_text, description = _split_head(head)
        text = " ".join([description, *body]).strip()
        result[name] = ArgDoc(name, type_text, _collapse(text), option_set(text, type_text))
    return result


def summary(doc: str | None) -> str:
    """The first paragraph of a class docstring, on one line."""
    paragraphs = re.split(r"\n\s*\n", (doc or "").strip())
    return _collapse(paragraphs[0]) if paragraphs and paragraphs[0] else ""


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _raw_entries(doc: str) -> list[tuple[str, str, list[str]]]:
    """``(name, head line after the name, continuation lines)`` for each entry of each Args section."""
    entries: list[tuple[str, str, list[str]]] = []
    lines = doc.expandtabs().splitlines()
    index = 0
    while index < len(lines):
        match = _SECTION.match(lines[index])
        index += 1
        if match:
            index = _read_section(lines, index, len(match.group(1)), entries)
    return entries


def _read_section(lines: list[str], index: int, section_indent: int, out: list[tuple[str, str, list[str]]]) -> int:
    entry_indent: int | None = None
    while index < len(lines):
        line = lines[index]
        indent = len(line) - len(line.lstrip())
        if line.strip() and (indent <= section_indent or (_OTHER_SECTION.match(line) and indent == entry_indent)):
            return index
        if line.strip():
            entry_indent = indent if entry_indent is None else entry_indent
            name_match = _ENTRY_NAME.match(line.strip())
            if indent == entry_indent and name_match:
                out.append((name_match.group(1), line.strip()[name_match.end() :], []))
            elif out:
                out[-1][2].append(line.strip())
        index += 1
    return index


def _split_head(head: str) -> tuple[str | None, str]:
    """``'(int | None): text'`` -> ``('int | None', 'text')``; balanced parentheses in the type."""
    head = head.strip()
    if not head.startswith("("):
        return None, head.lstrip(":").strip()
    depth = 0
    for position, char in enumerate(head):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return head[1:position].strip() or None, head[position + 1 :].lstrip().lstrip(":").strip()
    return None, head


def option_set(description: str, type_text: str | None = None) -> tuple[Any, ...] | None:
    """Values listed in braces (``from {18, 34, 50}``) in the description or the type, or None."""
    for text in (type_text or "", description):
        for match in _OPTION_SET.finditer(text):
            values = _literal_items(match.group(1))
            if values:
                return values
    return None


def _literal_items(text: str) -> tuple[Any, ...] | None:
    items = [item.strip().strip("`") for item in text.split(",")]
    if len(items) < 2 or any(not item for item in items):
        return None
    values = []
    for item in items:
        try:
            value = ast.literal_eval(item)
        except (ValueError, SyntaxError):
            return None
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            return None
        values.append(value)
    kinds = {type(v) for v in values}
    return tuple(values) if len(kinds) == 1 else None
