"""Where each libcst node of a config starts, read from Python's own syntax tree where the two trees
mirror each other node for node, else from libcst's position metadata (computed once, on first need).

libcst's ``PositionProvider`` regenerates the module's whole text to count positions: more than half of
reading a config. Python's parser has the positions already (``ast``, parsed anyway to check the syntax
first), so the statements and the expressions a config is made of (assignments, ``dict(...)`` calls,
displays, names, literals, operators) take theirs from it. A node the walk does not pair (inside an
f-string, a parenthesised expression, a compound statement) asks libcst, so every answer is libcst's.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

# libcst's expression nodes and Python's that start at the same character. Neither counts a node's
# parentheses, but Python does a tuple's: libcst's parenthesised tuple starts at its first item.
_SAME_START: dict[type[cst.CSTNode], type[ast.AST] | tuple[type[ast.AST], ...]] = {
    cst.Name: (ast.Name, ast.Constant),  # True, False, None are Python's constants
    cst.Integer: ast.Constant,
    cst.Float: ast.Constant,
    cst.Imaginary: ast.Constant,
    cst.SimpleString: ast.Constant,
    cst.ConcatenatedString: ast.Constant,
    cst.Call: ast.Call,
    cst.Dict: ast.Dict,
    cst.List: ast.List,
    cst.Tuple: ast.Tuple,
    cst.Set: ast.Set,
    cst.Attribute: ast.Attribute,
    cst.Subscript: ast.Subscript,
    cst.UnaryOperation: ast.UnaryOp,
    cst.BinaryOperation: ast.BinOp,
    cst.Comparison: ast.Compare,
    cst.ListComp: ast.ListComp,
    cst.SetComp: ast.SetComp,
    cst.DictComp: ast.DictComp,
}
_SMALL: dict[type[cst.CSTNode], type[ast.AST]] = {
    cst.Assign: ast.Assign,
    cst.AugAssign: ast.AugAssign,
    cst.AnnAssign: ast.AnnAssign,
    cst.Expr: ast.Expr,
    cst.Import: ast.Import,
    cst.ImportFrom: ast.ImportFrom,
    cst.Global: ast.Global,
    cst.Nonlocal: ast.Nonlocal,
    cst.Pass: ast.Pass,
    cst.Del: ast.Delete,
    cst.Assert: ast.Assert,
    cst.Raise: ast.Raise,
}


class Positions:
    """``start(node)``: the 1-based line and 0-based column (characters) where ``node`` begins."""

    def __init__(self, module: cst.Module, tree: ast.Module, text: str) -> None:
        self.module = module
        self.lines = re.split(r"\r\n|\r|\n", text)  # Python's line ends, as its tree counts lines
        self.known: dict[int, tuple[int, int]] = {}  # id(node) -> start; the module keeps its nodes alive
        self._libcst: Any = None
        statements = iter(tree.body)
        for statement in module.body:
            smalls = statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]
            for small in smalls:
                twin = next(statements, None)
                if twin is None or not self._statement(small, twin):
                    return  # the two trees part ways: libcst answers from here on

    def start(self, node: cst.CSTNode) -> tuple[int, int]:
        found = self.known.get(id(node))
        if found is not None:
            return found
        if self._libcst is None:
            self._libcst = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        where = self._libcst[node].start
        return where.line, where.column

    def _statement(self, small: cst.CSTNode, twin: ast.AST) -> bool:
        """Pair one statement; False where its kind differs (then the walk stops)."""
        kind = _SMALL.get(type(small))
        if kind is None:  # a compound statement: one of Python's too, its start left to libcst
            return isinstance(twin, ast.stmt) and not isinstance(twin, tuple(_SMALL.values()))
        if not isinstance(twin, kind):
            return False
        self._set(small, twin)
        if isinstance(small, cst.Assign) and isinstance(twin, ast.Assign):
            for target, other in zip(small.targets, twin.targets, strict=False):
                self._expression(target.target, other)
            self._expression(small.value, twin.value)
        elif isinstance(small, cst.Expr) and isinstance(twin, ast.Expr):
            self._expression(small.value, twin.value)
        return True

    def _set(self, node: cst.CSTNode, twin: Any) -> None:
        line, column = twin.lineno, twin.col_offset
        text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        if not text.isascii():  # Python counts UTF-8 bytes, libcst characters
            column = len(text.encode("utf-8")[:column].decode("utf-8", "ignore"))
        self.known[id(node)] = (line, column)

    def _expression(self, node: cst.CSTNode, twin: ast.AST) -> None:
        kinds = _SAME_START.get(type(node))
        if kinds is None or not isinstance(twin, kinds):
            return
        if not (getattr(node, "lpar", ()) and isinstance(node, cst.Tuple)):
            self._set(node, twin)
        elif isinstance(twin, ast.Tuple) and twin.elts and not isinstance(twin.elts[0], ast.Tuple):
            self._set(node, twin.elts[0])  # libcst starts a parenthesised tuple at its first item
        if isinstance(node, cst.Call) and isinstance(twin, ast.Call):
            self._call(node, twin)
        elif isinstance(node, cst.Dict) and isinstance(twin, ast.Dict):
            for element, key, value in zip(node.elements, twin.keys, twin.values, strict=False):
                if isinstance(element, cst.DictElement) and key is not None:
                    self._expression(element.key, key)
                self._expression(element.value, value)
        elif isinstance(node, (cst.List, cst.Tuple, cst.Set)) and isinstance(twin, (ast.List, ast.Tuple, ast.Set)):
            for item, other in zip(node.elements, twin.elts, strict=False):
                if isinstance(item, cst.StarredElement) and isinstance(other, ast.Starred):
                    self._expression(item.value, other.value)
                elif isinstance(item, cst.Element):
                    self._expression(item.value, other)
        elif isinstance(node, (cst.Attribute, cst.Subscript)) and isinstance(twin, (ast.Attribute, ast.Subscript)):
            self._expression(node.value, twin.value)
        elif isinstance(node, cst.UnaryOperation) and isinstance(twin, ast.UnaryOp):
            self._expression(node.expression, twin.operand)
        elif isinstance(node, cst.BinaryOperation) and isinstance(twin, ast.BinOp):
            self._expression(node.left, twin.left)
            self._expression(node.right, twin.right)

    def _call(self, node: cst.Call, twin: ast.Call) -> None:
        """A call's arguments: libcst keeps them in the order written, Python apart (positional, then
        keywords with ``**``)."""
        self._expression(node.func, twin.func)
        positional, keywords = iter(twin.args), iter(twin.keywords)
        for argument in node.args:
            if argument.keyword is not None or argument.star == "**":
                keyword = next(keywords, None)
                if keyword is None:
                    return
                if argument.keyword is not None:
                    self._set(argument.keyword, keyword)  # Python's keyword starts at its name
                self._expression(argument.value, keyword.value)
            else:
                other = next(positional, None)
                if other is None:
                    return
                if argument.star == "*" and isinstance(other, ast.Starred):
                    self._expression(argument.value, other.value)
                elif not argument.star:
                    self._expression(argument.value, other)
