"""Read an mmengine model config statically: Python's own syntax tree for structure, positions and
values (``ast``; libcst's tree, several times slower to build, is only needed to rewrite a file, and
the codemods parse it then). The file is never executed. Module-level ``NAME = <expr>`` assignments
are evaluated in order; ``dict(...)`` calls, dict/list/tuple displays, literals and earlier names
resolve, anything else (calls, arithmetic, attributes, f-strings) is recorded in
``Located.unresolved`` with its source text.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
import symtable
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

from otxgen.config.fold import fold
from otxgen.config.located import JsonPath, Located, Where
from otxgen.config.mutations import Effects, aliased, effects, names_in
from otxgen.errors import InputError
from otxgen.facts.pysource import SourceError, check_syntax

# Builtins a config may use on literals that change nothing and return a plain value.
_PURE_BUILTINS: dict[str, Any] = {
    "sum": sum, "len": len, "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "str": str, "bool": bool, "tuple": tuple, "list": list, "sorted": sorted,
}  # fmt: skip


@dataclass(frozen=True)
class Opaque:
    """A statement the static reading cannot follow: where, its first line, and why (a phrase)."""

    where: Where
    code: str
    why: str


@dataclass
class ConfigFacts:
    """What a model config says at module level, with positions."""

    file: str
    names: Located  # value: {name: value}; paths start with the module-level name
    read_base: bool = False  # new-style ``with read_base(): from .x import *`` (not followed)
    bases: list[str] = field(default_factory=list)
    # Statements that may change a name the model depends on in a way the static reading does not follow
    # (``model['backbone'] = ...``, ``model.update(...)``, ``x = model; x[...] = ...``, a second
    # ``model = ...``, an ``if``), or that read and write names dynamically (``exec``, ``globals()``):
    # the file's meaning is not what the names say.
    opaque: list[Opaque] = field(default_factory=list)
    inherited: Located | None = None  # what the ``_base_`` chain alone gives (set by ``inherit``)
    # Module-level uses of names nothing defines (``drop_path_rate=nan``): mmengine executes the config,
    # so each is a NameError before any value is read.
    undefined: list[tuple[Where, str]] = field(default_factory=list)
    # How the chain was read where mmengine itself would not read it (bases that set the same name,
    # merged as OTX 1.x merged them), each at the ``_base_`` entry it concerns.
    notes: list[tuple[Where, str]] = field(default_factory=list)

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


def base_entries(names: Located) -> list[str]:
    """The ``_base_`` files a config names: a string or a list of strings, as mmengine takes them; any
    other value (a tuple, which mmengine fails on, a number) is an ``InputError`` at its position."""
    base = names.value.get("_base_")
    if base is None or isinstance(base, str):
        return [] if base is None else [base]
    if isinstance(base, list) and all(isinstance(entry, str) for entry in base):
        return list(base)
    where = names.where(("_base_",))
    kind = "a tuple" if isinstance(base, tuple) else f"{base!r}"
    fix = f"; write a list: _base_ = {list(base)!r}" if isinstance(base, tuple) else ""
    message = f"_base_ is {kind}: mmengine takes a file name or a list of file names{fix}"
    raise InputError(message, where.file, where.line, where.col)


def read_config(text: str, file: str) -> ConfigFacts:
    """Parse ``text`` (a model config) into ``ConfigFacts``; what Python (and so mmengine) would refuse to
    compile, or what nests too deeply to read safely, is an ``InputError`` at its position. Large
    pure literals are read apart (``otxgen.config.fold``), so the cost grows with the file's size."""
    folded = fold(text)
    text = folded.text
    tree = _check_compiles(text, file)
    undefined = _undefined_names(tree, text, file, set(folded.values))
    source = _Source(text)
    evaluator = _Evaluator(source, file, folded.values)
    read_base = False
    suspects: list[tuple[ast.stmt, Effects]] = []
    aliases: list[tuple[str, set[str]]] = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
            names = [cast(ast.Name, target).id for target in statement.targets]
            suspects += (
                [(statement, Effects({"model"}))] if "model" in names and ("model",) in evaluator.names.keys else []
            )
            held = aliased(statement.value)
            aliases += [(name, held) for name in names]
            evaluator.assign(statement)
            if any(path[0] in names for path in evaluator.names.unresolved):  # calls it did not read
                suspects.append((statement, effects(statement.value, plain_targets=True)))
        elif isinstance(statement, ast.With) and "read_base" in source.code(statement.items[0].context_expr):
            read_base = True
        else:
            suspects.append((statement, effects(statement, plain_targets=True)))
    bases = base_entries(evaluator.names)
    # a name bound by a loop, an unpacking, := or a pattern may hold any object its statement mentions
    aliases += [(name, found.mentions) for _, found in suspects for name in found.bound]
    watched = _aliases_of(_WATCHED | _model_names(tree), aliases)
    opaque = [
        Opaque(evaluator.where_of(node), source.first_line(node), _why(found))
        for node, found in suspects
        if found.dynamic or found.changed & watched
    ]
    return ConfigFacts(file, evaluator.names, read_base, bases, opaque, undefined=undefined)


def _check_compiles(text: str, file: str) -> ast.Module:
    """Python's parser and compiler on ``text`` (nothing runs): syntax errors with Python's own message
    and position, a repeated keyword (``dict(backbone=..., backbone=...)``), a byte order mark, and
    nesting deeper than libcst may walk (the codemods' libcst recurses)."""
    try:
        tree = check_syntax(text)
        with warnings.catch_warnings():  # the compiler's warnings are about the user's code
            warnings.simplefilter("ignore")
            compile(tree, file, "exec", dont_inherit=True)
    except SourceError as error:
        raise InputError(error.message, file, error.line, error.col) from None
    except SyntaxError as error:
        raise InputError(f"invalid Python: {error.msg}", file, error.lineno or 0, error.offset or 0) from None
    return tree


# What mmengine's namespace holds when it executes a config besides the builtins: ``_base_``, and the
# predefined variables it substitutes in the text first (``{{ fileDirname }}``).
_GIVEN = frozenset({"_base_", "fileDirname", "fileBasename", "fileBasenameNoExtension", "fileExtname"})


def _undefined_names(tree: ast.Module, text: str, file: str, given: set[str]) -> list[tuple[Where, str]]:
    """Names the module's own code reads but nothing binds (Python's symbol table decides, so scopes of
    functions and comprehensions are right), each at its first module-level use. A star import could
    bind anything: then none is reported."""
    if any(isinstance(node, ast.ImportFrom) and node.names[0].name == "*" for node in tree.body):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = symtable.symtable(text, file, "exec")
    unbound = {
        symbol.get_name()
        for symbol in table.get_symbols()
        if symbol.is_referenced() and not (symbol.is_assigned() or symbol.is_imported())
    }
    unbound -= _GIVEN | given | set(dir(builtins))
    found: dict[str, Where] = {}
    stack: list[ast.AST] = [tree]
    while stack and len(found) < len(unbound):
        node = stack.pop()
        if isinstance(node, ast.Name) and node.id in unbound and node.id not in found:
            found[node.id] = Where(file, node.lineno, node.col_offset + 1)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return sorted(((where, name) for name, where in found.items()), key=lambda item: (item[0].line, item[0].col))


# Module-level names a backbone swap reads or writes; a statement touching one (or a name the model's
# value is built from) that is not a plain ``NAME = value`` makes the file's meaning unknown statically.
_WATCHED = frozenset({"model", "load_from", "custom_imports"})


def _aliases_of(watched: frozenset[str] | set[str], aliases: list[tuple[str, set[str]]]) -> set[str]:
    """``watched`` and every name bound to (a part of) one of them, however many steps away."""
    watched = set(watched)
    grew = True
    while grew:
        grew = False
        for target, sources in aliases:
            if target not in watched and sources & watched:
                watched.add(target)
                grew = True
    return watched


def _why(found: Effects) -> str:
    if found.dynamic:
        return f"uses {found.dynamic}, after which no name is what the file says"
    return "changes the model after its definition"


def _model_names(tree: ast.Module) -> set[str]:
    """The names the ``model = ...`` value is built from (a mutation of one changes the model too)."""
    found: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(_is_name(t, "model") for t in statement.targets):
            found |= names_in(statement.value)
    return found - {"dict"}


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


class _UnresolvedError(Exception):
    """An expression that cannot be evaluated without executing the file."""


_SCALARS = {str, int, float, bool, type(None)}


def _copied(value: Any) -> Any:
    """A deep copy of ``value``; a tuple of immutable scalars is its own copy (a folded list of class
    names is read fast, then not copied element by element each time a name reads it)."""
    if isinstance(value, tuple) and set(map(type, value)) <= _SCALARS:
        return value
    return copy.deepcopy(value)


class _Source:
    """The text as Python's tree counts it: lines (its line ends), columns in UTF-8 bytes. Gives a
    node's position in characters and its code; each costs the length of what it reads (not of the
    file: ``ast.get_source_segment`` splits the whole text each time)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.starts = [0, *(match.end() for match in re.finditer(rb"\r\n|\r|\n", self.data))]
        self.ascii = self.data.isascii()

    def column(self, line: int, offset: int) -> int:
        """The 0-based character column of byte ``offset`` on 1-based ``line``."""
        if self.ascii or line > len(self.starts):
            return offset
        start = self.starts[line - 1]
        return len(self.data[start : start + offset].decode("utf-8", "ignore"))

    def code(self, node: ast.AST) -> str:
        first, last = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        start = self.starts[first - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.starts[last - 1] + (node.end_col_offset or 0)  # type: ignore[attr-defined]
        return self.data[start:end].decode("utf-8", "replace")

    def first_line(self, node: ast.AST) -> str:
        code = self.code(node).strip().splitlines()
        return code[0] if code else ""


class _Evaluator:
    def __init__(self, source: _Source, file: str, folded: dict[str, Any]) -> None:
        self.source, self.file = source, file
        self.folded = folded  # the values of the literals folded out of the text, by placeholder
        self.names = Located({})
        self._bound: set[str] = set()  # names assigned so far (the first assignment has nothing to forget)

    def assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.bind(target.id, target, node.value)

    def bind(self, name: str, target: ast.AST, expr: ast.expr) -> None:
        path: JsonPath = (name,)
        if name in self._bound:  # a later assignment replaces the earlier one, as executing would
            self._forget(path)
        self._bound.add(name)
        self.names.keys[path] = self.where_of(target)
        try:
            self.names.value[name] = self.eval(expr, path)
        except _UnresolvedError:
            self.names.value.pop(name, None)
            self.names.unresolved[path] = self.source.code(expr)

    def eval(self, expr: ast.expr, path: JsonPath) -> Any:
        self.names.values[path] = self.where_of(expr)
        if isinstance(expr, ast.Constant):
            return expr.value
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict":
            return self._dict_call(expr, path)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in _PURE_BUILTINS:
            return self._pure_call(expr, path)
        if isinstance(expr, ast.Dict):
            return self._dict_display(expr, path)
        if isinstance(expr, (ast.List, ast.Tuple)):
            items = [self._element(element, (*path, index)) for index, element in enumerate(expr.elts)]
            return items if isinstance(expr, ast.List) else tuple(items)
        if isinstance(expr, ast.Name):
            return self._name(expr.id, path)
        try:  # -1, 1e-4j, a set display: what Python reads as a literal
            return ast.literal_eval(expr)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _UnresolvedError from None

    def _pure_call(self, call: ast.Call, path: JsonPath) -> Any:
        """``sum([18, 36, 72, 144])``, ``len(depths)``: a builtin without side effects on literal
        arguments is its value (OCRNet's ``channels``)."""
        if call.keywords or any(isinstance(arg, ast.Starred) for arg in call.args):
            raise _UnresolvedError
        args = [self.eval(arg, (*path, "*")) for arg in call.args]
        self._forget_recent((*path, "*"))
        try:
            return _PURE_BUILTINS[cast(ast.Name, call.func).id](*args)
        except (TypeError, ValueError, OverflowError):
            raise _UnresolvedError from None

    def _dict_call(self, call: ast.Call, path: JsonPath) -> dict[str, Any]:
        """``dict(other, key=value, **more)``: Python keeps positional arguments before keywords."""
        if any(isinstance(arg, ast.Starred) for arg in call.args):
            raise _UnresolvedError
        result: dict[str, Any] = {}
        for arg in call.args:  # dict(other): merge a resolvable mapping
            result.update(self._splat(arg, path))
        for keyword in call.keywords:
            if keyword.arg is None:  # dict(**other)
                result.update(self._splat(keyword.value, path))
            else:
                self._entry(result, keyword.arg, keyword, keyword.value, path)
        return result

    def _dict_display(self, display: ast.Dict, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value in zip(display.keys, display.values, strict=True):
            if key_node is None:  # {**other}
                result.update(self._splat(value, path))
                continue
            try:
                key = ast.literal_eval(key_node)
            except (ValueError, TypeError, SyntaxError):
                raise _UnresolvedError from None
            if not isinstance(key, str):
                raise _UnresolvedError
            self._entry(result, key, key_node, value, path)
        return result

    def _entry(self, result: dict[str, Any], key: str, key_node: ast.AST, expr: ast.expr, path: JsonPath) -> None:
        self.names.keys[(*path, key)] = self.where_of(key_node)
        try:
            result[key] = self.eval(expr, (*path, key))
        except _UnresolvedError:
            result.pop(key, None)
            self.names.unresolved[(*path, key)] = self.source.code(expr)

    def _splat(self, expr: ast.expr, path: JsonPath) -> dict[str, Any]:
        value = self.eval(expr, path)
        if not isinstance(value, dict):
            raise _UnresolvedError
        return value

    def _element(self, element: ast.expr, path: JsonPath) -> Any:
        if isinstance(element, ast.Starred):
            raise _UnresolvedError
        return self.eval(element, path)

    def _name(self, name: str, path: JsonPath) -> Any:
        if name in self.folded:  # a placeholder stands once in the text: its value is read once
            return self.folded[name]
        if name not in self.names.value:
            raise _UnresolvedError
        self._copy_positions((name,), path)
        return _copied(self.names.value[name])

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

    def _forget_recent(self, path: JsonPath) -> None:
        """``_forget`` of a path inside the name being bound now: its entries are the tables' last ones
        (insertion order), so only they are read (the whole tables each time made reading quadratic)."""
        for table in (self.names.values, self.names.keys, self.names.unresolved):
            old = []
            for key in reversed(table):
                if key[:1] != path[:1]:
                    break
                if key[: len(path)] == path:
                    old.append(key)
            for key in old:
                del table[key]

    def where_of(self, node: ast.AST) -> Where:
        line = node.lineno  # type: ignore[attr-defined]
        return Where(self.file, line, self.source.column(line, node.col_offset) + 1)  # type: ignore[attr-defined]
