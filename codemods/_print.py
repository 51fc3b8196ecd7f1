"""The text of a rewritten config, printing only what changed.

libcst prints a module as its header, each top-level statement in turn (the comment lines above it
included), then its footer; a statement the codemods hand on untouched prints as the source has it. So
the text of the statements a swap did not change is cut from the source, and only the changed ones are
printed: a swap changes a few statements of a config, and printing the whole module cost as much as
the codemods' own work.

A changed statement is most often a large ``model = dict(...)`` of which a swap changed one argument
or two. Inside it, each value the codemods handed on untouched (the very node of the original) is cut
from the source too, down through ``dict(...)`` calls, ``{...}`` displays, lists and tuples: libcst
prints a node as exactly the text its tokens span, which is what Python's parser says that value spans
(a value in parentheses of its own, where the two differ, is printed).

Where a statement's lines are taken from Python's parser (the tree ``check_syntax`` already made) and
libcst's count of the comment lines above it; the two must tile the file exactly, line for line, or the
whole module is printed as before (a compound statement at the top level, a file without a final newline).
"""

from __future__ import annotations

import ast
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState  # a node of otxgen's own prints through libcst's state
from libcst._visitors import CSTVisitorT

from codemods._config import assigned_name
from codemods._literal import made_text
from otxgen.facts.pysource import check_syntax

Span = tuple[int, int]  # a statement's lines, 0-based, end excluded, the comment lines above it included
Old = tuple[cst.BaseExpression, ast.expr]  # an original value and what Python's parser read it as


class Printer:
    """The text of ``original`` (parsed from ``source``) after the codemods, and of its statements."""

    def __init__(self, original: cst.Module, source: str) -> None:
        self.original, self.source = original, source
        self.lines = io.StringIO(source, newline="").readlines()  # \n, \r\n and \r, as Python and libcst count
        read = _statements(original, source, len(self.lines))
        self.spans = {id(statement): span for statement, (span, _) in zip(original.body, read or (), strict=False)}
        self.tiled = read is not None
        # a replaced ``NAME = value``: its node and Python's reading of it, by name (where only one assigns it)
        named: dict[str, list[Old]] = {}
        for statement, (_, parts) in zip(original.body, read or (), strict=False):
            name = assigned_name(statement)
            if name is not None and len(parts) == 1 and isinstance(parts[0], ast.Assign):
                assign = cst.ensure_type(cst.ensure_type(statement, cst.SimpleStatementLine).body[0], cst.Assign)
                named.setdefault(name, []).append((assign.value, parts[0].value))
        self.assigned = {name: found[0] for name, found in named.items() if len(found) == 1}
        self.printed: dict[int, tuple[cst.CSTNode, str]] = {}
        self.newline = original.default_newline

    def original_text(self, statement: cst.CSTNode) -> str:
        """An original statement's text: its lines of the source, else libcst's printing of it."""
        span = self.spans.get(id(statement))
        return "".join(self.lines[span[0] : span[1]]) if span else self.original.code_for_node(statement)

    def statement(self, module: cst.Module, statement: cst.CSTNode) -> str:
        """``module.code_for_node(statement)``, each statement printed once: an untouched one cut from the
        source, a changed ``NAME = value`` with the values it kept cut from the source."""
        if id(statement) in self.spans and self.tiled:
            return self.original_text(statement)
        known = self.printed.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1]
        printing = cst.Module(body=[], default_newline=module.default_newline, default_indent=module.default_indent)
        text = printing.code_for_node(self._shadowed(statement))
        self.printed[id(statement)] = (statement, text)
        return text

    def cuts(self, module: cst.Module) -> bool:
        """Whether ``module_text`` cuts the statements of ``module`` that the codemods handed on untouched
        from the source (else it prints the whole module with libcst)."""
        original = self.original
        unchanged_ends = module.header is original.header and module.footer is original.footer
        return self.tiled and unchanged_ends and module.has_trailing_newline

    def module_text(self, module: cst.Module) -> str:
        """``module.code``, where ``module`` is the original after the codemods."""
        original = self.original
        if not self.cuts(module):
            return module.code
        parts = self.lines[: len(original.header)]
        parts.extend(self.statement(module, statement) for statement in module.body)
        parts.extend(self.lines[len(self.lines) - len(original.footer) :])
        return "".join(parts)

    def _shadowed(self, statement: cst.CSTNode) -> cst.CSTNode:
        """``statement`` with what it kept of the original statement of its name, and what the codemods
        made from text, as ``_Verbatim``."""
        if not self.tiled or not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return statement
        assign = statement.body[0]
        if not isinstance(assign, cst.Assign):
            return statement
        value = self._shadow(assign.value, self.assigned.get(assigned_name(statement) or ""))
        return statement if value is assign.value else statement.with_changes(body=[assign.with_changes(value=value)])

    def _shadow(self, new: cst.BaseExpression, old: Old | None) -> cst.BaseExpression:
        """``new`` as a ``_Verbatim`` of its text where that is known: it is ``old``'s node (where the
        original had it, which Python read as ``old``'s tree), or the codemods made it from text
        (``made_text``). Else ``new`` with its arguments, keys or items shadowed so, matched with
        ``old``'s by keyword (``dict(...)``) or by identity (lists, tuples, ``{...}``)."""
        if old is not None and new is old[0]:
            return _Verbatim(self._cut(old[1])) if _cuttable(new) else new
        made = made_text(new)
        if made is not None and (self.newline == "\n" or "\n" not in made):  # made text has \n line ends
            return _Verbatim(made)
        field = "args" if isinstance(new, cst.Call) else "elements"
        if not isinstance(new, (cst.Call, cst.List, cst.Tuple, cst.Dict)):
            return new
        kept = _children(old) if old is not None and type(old[0]) is type(new) else {}
        parts = getattr(new, field)
        shadowed = [self._shadow_part(part, kept) for part in parts]
        if all(after is before for after, before in zip(shadowed, parts, strict=True)):
            return new
        return new.with_changes(**{field: shadowed})

    def _shadow_part(self, part: Any, kept: dict[str | int, Old]) -> Any:
        """An argument, item or key-value pair with its value shadowed (``_shadow``)."""
        keyword = getattr(part, "keyword", None)
        old = kept.get(keyword.value if keyword is not None else id(part.value))
        value = self._shadow(part.value, old)
        return part if value is part.value else part.with_changes(value=value)

    def _cut(self, tree: ast.expr) -> str:
        """The source text Python's parser gives ``tree`` (its columns are UTF-8 byte offsets)."""
        first, last = tree.lineno - 1, (tree.end_lineno or tree.lineno) - 1
        start = _column(self.lines[first], tree.col_offset)
        end = _column(self.lines[last], tree.end_col_offset or 0)
        if first == last:
            return self.lines[first][start:end]
        return self.lines[first][start:] + "".join(self.lines[first + 1 : last]) + self.lines[last][:end]


def _children(old: Old) -> dict[str | int, Old]:
    """The parts of an original ``dict(...)``, list, tuple or ``{...}`` with what Python read each as:
    a ``dict(...)``'s by keyword, the others' by the identity of their node; empty where the two
    readings do not pair up."""
    node, tree = old
    if isinstance(node, cst.Call) and isinstance(tree, ast.Call) and not tree.args:
        pairs = [
            (arg.keyword.value, (arg.value, keyword.value))
            for arg, keyword in zip(node.args, tree.keywords, strict=False)
            if arg.keyword is not None and arg.keyword.value == keyword.arg
        ]
        return dict(pairs) if len(pairs) == len(node.args) == len(tree.keywords) else {}
    if isinstance(node, (cst.List, cst.Tuple)) and isinstance(tree, (ast.List, ast.Tuple)):
        if len(tree.elts) != len(node.elements):
            return {}
        items = (item.value if isinstance(item, ast.Starred) else item for item in tree.elts)
        return {id(element.value): (element.value, item) for element, item in zip(node.elements, items, strict=True)}
    if isinstance(node, cst.Dict) and isinstance(tree, ast.Dict) and len(tree.values) == len(node.elements):
        return {
            id(element.value): (element.value, value) for element, value in zip(node.elements, tree.values, strict=True)
        }
    return {}


def _column(line: str, offset: int) -> int:
    return offset if line.isascii() else len(line.encode("utf-8")[:offset].decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class _Verbatim(cst.BaseExpression):
    """A value the codemods left as the source wrote it, printed as that text. Only ever printed."""

    text: str
    lpar: Sequence[cst.LeftParen] = ()
    rpar: Sequence[cst.RightParen] = ()

    def _visit_and_replace_children(self, visitor: CSTVisitorT) -> _Verbatim:
        return self

    def _codegen_impl(self, state: CodegenState) -> None:
        state.add_token(self.text)


def _cuttable(node: cst.BaseExpression) -> bool:
    """Whether libcst's text of ``node`` is the span Python's parser gives it: not where the node holds
    parentheses of its own (Python's span leaves them out, but a tuple's one pair)."""
    return not node.lpar or (isinstance(node, cst.Tuple) and len(node.lpar) == 1)


def _statements(original: cst.Module, source: str, count: int) -> list[tuple[Span, list[ast.stmt]]] | None:
    """Each top-level statement's lines in ``source`` and Python's reading of it, or None where they do not
    tile it exactly."""
    if not original.has_trailing_newline or not source.endswith(("\n", "\r")):
        return None
    nodes = iter(check_syntax(source).body)
    at, found = len(original.header), []
    for statement in original.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            return None
        parts = [next(nodes, None) for _ in statement.body]  # ``a = 1; b = 2`` is two statements to Python
        if not parts or any(part is None for part in parts):
            return None
        first = parts[0].lineno - 1 - len(statement.leading_lines)  # type: ignore[union-attr]
        last = max(part.end_lineno or 0 for part in parts if part is not None)
        if first != at or last <= first:
            return None
        found.append(((first, last), [part for part in parts if part is not None]))
        at = last
    if next(nodes, None) is not None or at + len(original.footer) != count:
        return None
    return found
