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
from functools import cache
from typing import Any

FOLD_BYTES = 64 * 1024
PREFIX = "_otxgen_literal_"

# Python's own lexical rules, not ``re``'s: whitespace is a space, a tab or a form feed, a line ends in
# LF or CRLF (a lone CR, which Python also counts as a line end, is not folded), and a one-line string
# holds no line end.
_SPACE = r"(?:[ \t\f]|\r?\n)"
_STRING = (
    r"(?:[rRuU]|[bB][rR]?|[rR][bB])?(?:"
    r"'''(?:[^'\\\r]|\\[^\r]|'(?!''))*'''"
    r'|"""(?:[^"\\\r]|\\[^\r]|"(?!""))*"""'
    r"|'(?:[^'\\\n\r]|\\[^\n\r])*'"
    r'|"(?:[^"\\\n\r]|\\[^\n\r])*")'
)
_NUMBER = r"(?:0[xXoObB][0-9a-fA-F_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?[jJ]?)"
_SCALAR = rf"{_SPACE}+|\#[^\n\r]*|[,+\-]|{_STRING}|{_NUMBER}|True\b|False\b|None\b"
_FLAT = rf"[\[({{](?>{_SCALAR}|:)*+[\])}}]"  # inner displays may be dicts: nothing in them is checked
_NESTED = rf"[\[({{](?>{_SCALAR}|:|{_FLAT})*+[\])}}]"
# A display of literals and displays of them, two levels down. Not a dict display: a model or backbone
# written as one keeps the positions of its keys (a large value inside it is folded alone). A match
# must not begin right after what would make its brackets a call's or a subscript's; the syntax tree
# of the folded text checks that again (a name before a line continuation or a comment).
_DISPLAY = rf"(?<![\w)\]}}'\"\s\\])(\s*)([\[({{](?>{_SCALAR}|{_NESTED})*+[\])}}])"
_PLAIN = r"""(?:'[^'\\\n\r]*'|"[^"\\\n\r]*")"""
# possessive throughout: ``re`` keeps no state to backtrack into (a greedy run of 400,000 strings held 200 MB)
_PLAIN_RUN = rf"{_SPACE}*+(?:{_PLAIN}{_SPACE}*+,{_SPACE}*+)++(?:{_PLAIN}{_SPACE}*+)?+"
_PLAIN_ITEM = re.compile(r"""'([^'\\\n\r]*)'|"([^"\\\n\r]*)\"""")
_SINGLE_QUOTED = re.compile(r"'([^'\\\n\r]*)'")  # a run in one kind of quotes: no pair a string
_NUMERIC = re.compile(r"[0-9eE.+\-,()\[\] \t\f\r\n]*")
_TRAILING_COMMA = re.compile(r",(\s*[\])])")
_PAIRS = {"(": ")", "[": "]", "{": "}"}


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """The two long patterns, compiled on the first file large enough to be folded: compiling them
    costs more than reading a small config."""
    return re.compile(pattern)


@dataclass
class Folded:
    """``text`` with its large literals replaced; ``values`` by placeholder name."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Region:
    start: int
    end: int
    name: str
    value: Any


def fold(text: str) -> Folded:
    """``text`` with every pure-literal display of ``FOLD_BYTES`` or more replaced by ``(NAME   )`` of
    the same lines and columns, and the displays' values by ``NAME``; ``text`` itself where there is
    none. A display whose folding would change what the file means (or whether Python reads it) is
    left as written."""
    if len(text) < FOLD_BYTES:
        return Folded(text)
    prefix = PREFIX
    while prefix in text:  # never a name the file has (a comment may mention one)
        prefix += "_"
    regions: list[_Region] = []
    for match in _compiled(_DISPLAY).finditer(text):
        start, end = match.span(2)
        if end - start < FOLD_BYTES or _PAIRS[text[start]] != text[end - 1]:
            continue
        display = text[start:end]
        if "\r" in display and display.count("\r") != display.count("\r\n"):
            continue
        try:
            value = _value(display)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        regions.append(_Region(start, end, f"{prefix}{len(regions)}", value))
    for _ in range(2):  # once more without the displays the syntax tree refused
        if not regions:
            return Folded(text)
        folded = _folded(text, regions)
        refused = _misplaced(folded, regions)
        if refused is None:
            return Folded(text)
        if not refused:
            return Folded(folded, {region.name: region.value for region in regions})
        regions = [region for region in regions if region.name not in refused]
    return Folded(text)


def _folded(text: str, regions: list[_Region]) -> str:
    pieces, last = [], 0
    for region in regions:
        blank = _blank(text, region.start + 1, region.end - 1, len(region.name))
        pieces += [text[last : region.start], "(", region.name, blank, ")"]
        last = region.end
    return "".join([*pieces, text[last:]])


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
    """A display's value: a flat run of plain strings read by ``re``, numbers (and displays of them)
    by ``json``, anything else by ``literal_eval``."""
    inner = display[1:-1]
    if _compiled(_PLAIN_RUN).fullmatch(inner):
        if '"' not in inner:
            items = _SINGLE_QUOTED.findall(inner)
        else:
            items = [single + double for single, double in _PLAIN_ITEM.findall(inner)]  # one is empty
        return {"(": tuple, "[": list, "{": set}[display[0]](items)
    if _NUMERIC.fullmatch(display):
        numbers = _numbers(display)
        if numbers is not None:
            return numbers
    return ast.literal_eval(display)


def _numbers(display: str) -> Any:
    """A display of numbers (and displays of them, each level one kind of bracket) read as JSON, which
    reads them as Python does where it reads them at all (``1.``, ``.5``, ``1_0``, ``+1``: not JSON,
    then ``literal_eval``); None where the brackets do not allow it."""
    import json

    kinds = [set(re.findall(r"[\[(]", part)) for part in (display[:1], display[1:-1])]
    if len(kinds[1]) > 1:
        return None
    try:
        value = json.loads(_TRAILING_COMMA.sub(r"\1", display.replace("(", "[").replace(")", "]")))
    except ValueError:
        return None
    if not isinstance(value, list) or any(isinstance(item, bool) for item in value):
        return None
    if "(" in kinds[1]:
        if any(isinstance(item, list) and any(isinstance(x, list) for x in item) for item in value):
            return None  # deeper levels of tuples: literal_eval keeps them apart
        value = [tuple(item) if isinstance(item, list) else item for item in value]
    if any(isinstance(item, list) and len(item) == 1 and "(" in kinds[1] for item in value):
        return None
    return tuple(value) if display[0] == "(" else value


def _misplaced(folded: str, regions: list[_Region]) -> set[str] | None:
    """The placeholders that do not stand where their display stood as a value Python reads: text
    inside a string, an assignment's target, or brackets that were a call's or a subscript's (a name,
    a line continuation, then the display on the next line); None where the folded text does not parse
    at all."""
    try:
        tree = ast.parse(folded)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    names = {region.name for region in regions}
    placed: set[str] = set()
    starts = [0] + [match.end() for match in re.finditer(r"\r\n|\r|\n", folded)]  # Python's line ends

    def offset(line: int, column: int) -> int:  # ast's (line, UTF-8 byte column) -> index in ``folded``
        begin = starts[line - 1]
        return begin + len(folded[begin : begin + column].encode("utf-8")[:column].decode("utf-8", "ignore"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.func.end_lineno is not None:
            for argument in node.args:
                if isinstance(argument, ast.Name) and argument.id in names:
                    between = folded[
                        offset(node.func.end_lineno, node.func.end_col_offset or 0) : offset(
                            argument.lineno, argument.col_offset
                        )
                    ]
                    if re.sub(r"#[^\r\n]*", "", between).count("(") < 2:  # the call's parenthesis is the placeholder's
                        names.discard(argument.id)
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            placed.add(node.id)
    return {region.name for region in regions} - (placed & names)
