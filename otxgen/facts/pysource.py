"""What Python source otxgen reads at all, the one check: Python's own parser first (it stops cleanly on
any input), then a nesting limit, so libcst (which recurses) only ever sees valid Python it can walk.
Pure: ast and tokenize only; the config view and the codemods both call it."""

from __future__ import annotations

import ast
import functools
import io
import itertools
import re
import tokenize
import warnings


class SourceError(ValueError):
    """The source is not Python otxgen reads; ``line``/``col`` point at the cause (1-based, 0 when unknown)."""

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        self.message, self.line, self.col = message, line, col
        super().__init__(f"{line}:{col}: {message}" if line else message)


# Levels of Python's syntax tree a config may nest. Configs use about 15; libcst's visitors recurse about
# seven frames a level (and its native parser crashes the process a few thousand levels down), so
# deeper input is refused before libcst sees it.
MAX_DEPTH = 100
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels of brackets, calls or operators)"
BOM_MESSAGE = "starts with a byte order mark (U+FEFF), which Python and mmengine refuse; save it as UTF-8 without one"


@functools.lru_cache(maxsize=8)
def check_syntax(source: str) -> ast.Module:
    """``source``'s tree from Python's parser, or a ``SourceError`` at the cause: invalid Python, a
    byte order mark, or nesting deeper than ``MAX_DEPTH``. Each text is parsed once a process: the config
    view, the codemods' parse and their reading of the file's style share the tree, and only read it."""
    if source.startswith("\ufeff"):
        raise SourceError(BOM_MESSAGE, 1, 1)
    try:
        with warnings.catch_warnings():  # the user's invalid escapes ('\d') are not otxgen's to report
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except SyntaxError as error:
        message = TOO_DEEP if "too many nested" in error.msg else f"invalid Python: {error.msg}"
        raise SourceError(message, error.lineno or 0, error.offset or 0) from None
    except (RecursionError, MemoryError):  # Python's parser gives up on very deep input ("too complex")
        raise SourceError(TOO_DEEP) from None
    quotes = _Quotes(source)
    deepest = _too_deep(tree, quotes)
    if deepest is not None:
        line = getattr(deepest, "lineno", 0)
        raise SourceError(TOO_DEEP, line, quotes.column(line, getattr(deepest, "col_offset", -1)) + 1)
    return tree


def _too_deep(tree: ast.Module, quotes: _Quotes) -> ast.AST | None:
    """The first node (in source order) deeper than ``MAX_DEPTH``, walked without recursion. Adjacent
    string literals are one node to Python but a chain to libcst: each piece counts as a level. A
    keyword (``depth=50`` in ``dict(...)``) is part of its call's level, as an item is of its list's."""
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (ast.Constant, ast.JoinedStr)):
            depth += quotes.pieces(node) - 1
        if depth > MAX_DEPTH:
            return node
        children = reversed(child_nodes(node))
        stack.extend((child, depth if isinstance(child, ast.keyword) else depth + 1) for child in children)
    return None


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """``ast.iter_child_nodes`` as a list, without the ``Load``/``Store`` markers (they nest nothing):
    twice as fast, and a swap walks every node of its config's tree."""
    children: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            children.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST) and not isinstance(value, ast.expr_context):
            children.append(value)
    return children


class _Quotes:
    """Quote characters per line (as prefix sums): a string node spanning lines with few quotes is one
    piece; only one whose own text (sliced by its offsets, so each node costs its length: linear in
    all) has more quotes than ``MAX_DEPTH`` pieces would need is tokenized to count them."""

    def __init__(self, source: str) -> None:
        self.data = source.encode("utf-8")  # ast's columns are UTF-8 byte offsets
        lines = re.split(rb"\r\n|\r|\n", self.data)
        counts = (line.count(b"'") + line.count(b'"') for line in lines)
        self.before = list(itertools.accumulate(counts, initial=0))
        self.starts = [0, *(match.end() for match in re.finditer(rb"\r\n|\r|\n", self.data))]

    def column(self, line: int, offset: int) -> int:
        """The character column of ``offset`` (a UTF-8 byte offset, as ast gives) on ``line``."""
        if line < 1 or offset < 0:
            return offset
        start = self.starts[line - 1]
        return len(self.data[start : start + offset].decode("utf-8", errors="replace"))

    def pieces(self, node: ast.expr) -> int:
        first, last = node.lineno, node.end_lineno or node.lineno
        if self.before[last] - self.before[first - 1] <= 2 * MAX_DEPTH:
            return 1
        start = self.starts[first - 1] + node.col_offset
        end = self.starts[last - 1] + (node.end_col_offset or 0)
        segment = self.data[start:end]
        if segment.count(b"'") + segment.count(b'"') <= 2 * MAX_DEPTH:
            return 1
        text = segment.decode("utf-8", errors="replace")
        tokens = tokenize.generate_tokens(io.StringIO(f"({text})").readline)
        return sum(1 for token in tokens if token.type == tokenize.STRING)
