"""Read an mmengine model config statically: libcst for structure and positions, ``ast.literal_eval``
for values. The file is never executed. Module-level ``NAME = <expr>`` assignments are evaluated in
order; ``dict(...)`` calls, dict/list/tuple displays, literals and earlier names resolve, anything else
(calls, arithmetic, attributes, f-strings) is recorded in ``Located.unresolved`` with its source text.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from otxgen.errors import InputError
from otxgen.validate.located import JsonPath, Located, Where

_CONSTANTS = {"True": True, "False": False, "None": None}


@dataclass
class ConfigFacts:
    """What a model config says at module level, with positions."""

    file: str
    names: Located  # value: {name: value}; paths start with the module-level name
    read_base: bool = False  # new-style ``with read_base(): from .x import *`` (not followed)
    bases: list[str] = field(default_factory=list)

    def get(self, name: str) -> Any:
        return self.names.value.get(name)

    @property
    def default_scope(self) -> str | None:
        scope = self.get("default_scope")
        return scope if isinstance(scope, str) else None

    @property
    def custom_imports(self) -> list[str]:
        imports = self.get("custom_imports")
        found = imports.get("imports") if isinstance(imports, dict) else None
        found = [found] if isinstance(found, str) else found
        return [name for name in found if isinstance(name, str)] if isinstance(found, list) else []


def read_config(text: str, file: str) -> ConfigFacts:
    """Parse ``text`` (a model config) into ``ConfigFacts``; a syntax error is an ``InputError``."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        # The native parser's message holds the exact place ("error at 3:0: expected ..."); libcst's
        # own line is the start of the statement.
        native = re.match(r"parser error: error at (\d+):(\d+): (.*)", error.message, re.DOTALL)
        if native:
            line, col, cause = int(native[1]), int(native[2]) + 1, native[3]
        else:
            line, col, cause = error.editor_line, error.editor_column, error.message
        raise InputError(f"invalid Python: {cause}", file, line, col) from None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    evaluator = _Evaluator(module, wrapper.resolve(PositionProvider), file)
    read_base = False
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign):
                    evaluator.assign(small)
        elif isinstance(statement, cst.With):
            read_base = read_base or "read_base" in module.code_for_node(statement.items[0].item)
    base = evaluator.names.value.get("_base_")
    bases = (
        [base] if isinstance(base, str) else [b for b in base if isinstance(b, str)] if isinstance(base, list) else []
    )
    return ConfigFacts(file, evaluator.names, read_base, bases)


class _UnresolvedError(Exception):
    """An expression that cannot be evaluated without executing the file."""


class _Evaluator:
    def __init__(self, module: cst.Module, positions: Any, file: str) -> None:
        self.module, self.positions, self.file = module, positions, file
        self.names = Located({})

    def assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.bind(target.target.value, target.target, node.value)

    def bind(self, name: str, target: cst.CSTNode, expr: cst.BaseExpression) -> None:
        path: JsonPath = (name,)
        self._forget(path)  # a later assignment replaces the earlier one, as executing would
        self.names.keys[path] = self._where(target)
        try:
            self.names.value[name] = self.eval(expr, path)
        except _UnresolvedError:
            self.names.value.pop(name, None)
            self.names.unresolved[path] = self.module.code_for_node(expr)

    def eval(self, expr: cst.BaseExpression, path: JsonPath) -> Any:
        self.names.values[path] = self._where(expr)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict":
            return self._dict_call(expr, path)
        if isinstance(expr, cst.Dict):
            return self._dict_display(expr, path)
        if isinstance(expr, (cst.List, cst.Tuple)):
            items = [self._element(element, (*path, index)) for index, element in enumerate(expr.elements)]
            return items if isinstance(expr, cst.List) else tuple(items)
        if isinstance(expr, cst.Name):
            return self._name(expr.value, path)
        if isinstance(expr, cst.ConcatenatedString):  # 'a' 'b' over several lines: literal_eval needs one line
            left, right = self.eval(expr.left, path), self.eval(expr.right, path)
            if type(left) is not type(right):
                raise _UnresolvedError
            self.names.values[path] = self._where(expr)
            return left + right
        try:
            return ast.literal_eval(self.module.code_for_node(expr).strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _UnresolvedError from None

    def _dict_call(self, call: cst.Call, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for arg in call.args:
            if arg.keyword is None:  # dict(other) or dict(**other): merge a resolvable mapping
                if arg.star == "*":
                    raise _UnresolvedError
                result.update(self._splat(arg.value, path))
                continue
            self._entry(result, arg.keyword.value, arg.keyword, arg.value, path)
        return result

    def _dict_display(self, display: cst.Dict, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for element in display.elements:
            if not isinstance(element, cst.DictElement):
                result.update(self._splat(element.value, path))
                continue
            try:
                key = ast.literal_eval(self.module.code_for_node(element.key).strip())
            except (ValueError, TypeError, SyntaxError):
                raise _UnresolvedError from None
            if not isinstance(key, str):
                raise _UnresolvedError
            self._entry(result, key, element.key, element.value, path)
        return result

    def _entry(
        self, result: dict[str, Any], key: str, key_node: cst.CSTNode, expr: cst.BaseExpression, path: JsonPath
    ) -> None:
        self.names.keys[(*path, key)] = self._where(key_node)
        try:
            result[key] = self.eval(expr, (*path, key))
        except _UnresolvedError:
            result.pop(key, None)
            self.names.unresolved[(*path, key)] = self.module.code_for_node(expr)

    def _splat(self, expr: cst.BaseExpression, path: JsonPath) -> dict[str, Any]:
        value = self.eval(expr, path)
        if not isinstance(value, dict):
            raise _UnresolvedError
        return value

    def _element(self, element: cst.BaseElement, path: JsonPath) -> Any:
        if isinstance(element, cst.StarredElement):
            raise _UnresolvedError
        return self.eval(element.value, path)

    def _name(self, name: str, path: JsonPath) -> Any:
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name not in self.names.value:
            raise _UnresolvedError
        self._copy_positions((name,), path)
        return copy.deepcopy(self.names.value[name])

    def _copy_positions(self, source: JsonPath, target: JsonPath) -> None:
        """Positions inside a name's value point at its definition; the value itself at the use site."""
        size = len(source)
        for table in (self.names.values, self.names.keys):
            for path, where in list(table.items()):
                if len(path) > size and path[:size] == source:
                    table[target + path[size:]] = where
        for path, code in list(self.names.unresolved.items()):
            if len(path) > size and path[:size] == source:
                self.names.unresolved[target + path[size:]] = code

    def _forget(self, path: JsonPath) -> None:
        for table in (self.names.values, self.names.keys, self.names.unresolved):
            for old in [p for p in table if p[: len(path)] == path]:
                del table[old]

    def _where(self, node: cst.CSTNode) -> Where:
        code_range: CodeRange = self.positions[node]
        return Where(self.file, code_range.start.line, code_range.start.column + 1)
