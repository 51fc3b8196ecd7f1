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
from otxgen.facts.compute import LONGEST, PURE_BUILTINS, UNARY, binary, pure_call, subscript
from otxgen.facts.pysource import SourceError, check_syntax

_BUILTINS = frozenset({"dict", *PURE_BUILTINS})


def _computed(expr: ast.expr, local: dict[str, Any], module: Any) -> Any:
    """A comprehension's item: numbers and strings, the loop's name (``local``) or a module-level one
    (``module``, which raises ``KeyError`` for one it does not know), lists and tuples of them, and
    ``_binary`` / ``_subscript`` / a sign over them. Anything else is ``TypeError`` (not read)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float, str)):
        return expr.value
    if isinstance(expr, ast.Name):
        return copy.deepcopy(local[expr.id] if expr.id in local else module(expr.id))
    if isinstance(expr, (ast.List, ast.Tuple)):
        items = [_computed(item, local, module) for item in expr.elts]
        return items if isinstance(expr, ast.List) else tuple(items)
    if isinstance(expr, ast.BinOp):
        return binary(expr.op, _computed(expr.left, local, module), _computed(expr.right, local, module))
    if isinstance(expr, ast.UnaryOp) and type(expr.op) in UNARY:
        operand = _computed(expr.operand, local, module)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise TypeError("not read")
        return UNARY[type(expr.op)](operand)
    if isinstance(expr, ast.Subscript) and not isinstance(expr.slice, ast.Slice):
        return subscript(_computed(expr.value, local, module), _computed(expr.slice, local, module))
    raise TypeError("not read")


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
    # What mmengine refuses as it merges the config over its chain (a dict over a base's list or None,
    # without ``_delete_``): the config does not load, each at the value that clashes.
    refused: list[tuple[Where, str]] = field(default_factory=list)
    # Statements that stop mmengine's run of this file (``model['backbone']['x'] = 1`` where the file's
    # own ``model`` has no ``backbone``: a base's is merged in after the file runs), each with why.
    failing: list[tuple[Where, str]] = field(default_factory=list)

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
    source = _Source(text)
    tree = _check_compiles(text, file, source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = symtable.symtable(text, file, "exec")
    given = _GIVEN | set(folded.values)
    undefined = _undefined_names(tree, table, source, file, given)
    rebound = _rebound(table)
    evaluator = _Evaluator(source, file, folded.values, rebound)
    if not _star_import(tree):  # what the module binds, read before its binding: a NameError when run
        module_bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
        evaluator.unready = module_bound - given - set(dir(builtins))
    read_base = False
    suspects: list[tuple[ast.stmt, Effects]] = []
    aliases: list[tuple[str, set[str]]] = []
    failing: list[tuple[Where, str]] = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
            names = [cast(ast.Name, target).id for target in statement.targets]
            again = "model" in names and ("model",) in evaluator.names.keys
            if again or (len(names) > 1 and _WATCHED & set(names)) or _BUILTINS & set(names):
                # a second ``model = ...`` replaces the first; ``model = m = dict(...)`` the codemods do not
                # rewrite (and ``m`` is the model's own object); ``dict = ...`` changes what dict(...) is
                suspects.append((statement, Effects(set(names), bound=set(names))))
            held = aliased(statement.value)
            aliases += [(name, held | set(names) - {name}) for name in names]
            evaluator.assign(statement)
            if any(path[0] in names for path in evaluator.names.unresolved):  # calls it did not read
                suspects.append((statement, effects(statement.value, plain_targets=True)))
        elif _reads_base(statement):
            read_base = True
        else:
            # what the names hold is known until a statement the reading does not follow may change one
            missing = None if suspects else _missing_key(statement, evaluator.names)
            if missing is not None:
                failing.append((evaluator.where_of(missing[0]), missing[1]))
            found = effects(statement, plain_targets=True)
            aliases += found.holds
            binds = _binds(statement)
            found.changed |= binds & _BUILTINS  # def dict(...), import x as dict, for list in ...
            evaluator.unready -= binds
            suspects.append((statement, found))
    bases = base_entries(evaluator.names)
    # a name bound by a loop, an unpacking, := or a pattern may be any object its statement mentions
    loose = [(name, found.mentions) for _, found in suspects for name in found.bound]
    built_from = _model_names(tree)
    watched = _aliases_of(_WATCHED | built_from | (_BUILTINS & rebound), aliases, loose)
    # a call changes what holds the model's own objects (a saved bound method of it); a function the model
    # is built from holds none of them, and calling it changes nothing of the model
    sharing = _aliases_of(_WATCHED, aliases, loose)
    for _, found in suspects:
        found.changed |= found.called & sharing
    opaque = [
        Opaque(evaluator.where_of(node), source.first_line(node), _why(node, found, watched, built_from))
        for node, found in suspects
        if found.dynamic or found.changed & watched
    ]
    early = {name: where for name, where in evaluator.early.items() if name not in undefined}
    named = sorted([*undefined.items(), *early.items()], key=lambda item: (item[1].line, item[1].col))
    return ConfigFacts(
        file, evaluator.names, read_base, bases, opaque, undefined=[(w, n) for n, w in named], failing=failing
    )


_AFTER = "what _base_ files give is merged in after it runs"


def _missing_key(statement: ast.stmt, names: Located) -> tuple[ast.AST, str] | None:
    """``NAME['a']['b'] = ...`` where the file's own ``NAME`` has no ``'a'`` (for ``+=`` and a method called,
    ``NAME['a']['b'].update(...)``, no ``'b'`` either), as far as the file says it: the KeyError that stops
    mmengine's run of the file, whose ``_base_`` values are merged in only after it runs. ``(subscript,
    why)``, or None."""
    called = statement.value.func if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) else None
    whole = isinstance(statement, ast.AugAssign) or isinstance(called, ast.Attribute)
    targets: list[ast.expr] = []
    if isinstance(statement, ast.AugAssign):
        targets = [statement.target]
    elif isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(called, ast.Attribute):
        targets = [called.value]
    for target in targets:
        steps: list[tuple[str, ast.Subscript]] = []
        node: ast.expr = target
        while isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if not isinstance(node.slice.value, str):
                break
            steps.insert(0, (node.slice.value, node))
            node = node.value
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load) or not steps:
            continue
        path: tuple[str, ...] = (node.id,)
        value = names.value.get(node.id)
        for key, indexing in steps if whole else steps[:-1]:
            if not isinstance(value, dict) or any(p[: len(path) + 1] == (*path, key) for p in names.unresolved):
                break
            if key not in value:
                why = f"KeyError: {'.'.join(path)} has no {key!r} when mmengine runs this file ({_AFTER})"
                return indexing.slice, why
            path, value = (*path, key), value[key]
    return None


def _reads_base(statement: ast.stmt) -> bool:
    """``with read_base(): from .x import *`` (mmengine's new-style inheritance, not followed), exactly."""
    if not isinstance(statement, ast.With) or len(statement.items) != 1:
        return False
    call = statement.items[0].context_expr
    func = call.func if isinstance(call, ast.Call) and not (call.args or call.keywords) else None
    named = (isinstance(func, ast.Name) and func.id == "read_base") or (
        isinstance(func, ast.Attribute) and func.attr == "read_base"
    )
    return named and all(isinstance(inner, ast.ImportFrom) for inner in statement.body)


def _rebound(table: symtable.SymbolTable) -> set[str]:
    """Module-level names the file binds (assigned, imported, a ``def`` or ``class``, or declared
    ``global`` and bound in a function): a builtin among them is not the builtin."""
    bound = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_assigned() or symbol.is_imported()}
    stack = list(table.get_children())
    while stack:
        scope = stack.pop()
        stack += scope.get_children()
        bound |= {s.get_name() for s in scope.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return bound


# The compiler's warnings that are certain errors once the code runs (mmengine runs a config's module
# level): ``[256, 512]((64, 128))``, a list called, is what a missing comma leaves.
_FAILS_WHEN_RUN = re.compile(r"is not callable|is not subscriptable|indices must be integers")


def _check_compiles(text: str, file: str, source: _Source) -> ast.Module:
    """Python's parser and compiler on ``text`` (nothing runs): syntax errors with Python's own message
    and position, a repeated keyword (``dict(backbone=..., backbone=...)``), a byte order mark,
    nesting deeper than libcst may walk (the codemods' libcst recurses), and what the compiler knows
    fails when run (a display called or indexed as a function)."""
    try:
        tree = check_syntax(text)
        with warnings.catch_warnings(record=True) as said:  # the compiler's warnings are about the user's code
            warnings.simplefilter("always")
            compile(tree, file, "exec", dont_inherit=True)
    except SourceError as error:
        raise InputError(error.message, file, error.line, error.col) from None
    except SyntaxError as error:
        raise InputError(f"invalid Python: {error.msg}", file, error.lineno or 0, error.offset or 0) from None
    for warning in said:
        if issubclass(warning.category, SyntaxWarning) and _FAILS_WHEN_RUN.search(str(warning.message)):
            line, col = _called_display(tree, source, warning.lineno)
            message = f"{warning.message} (TypeError when mmengine executes the config)"
            raise InputError(message, file, line, col)
    return tree


def _called_display(tree: ast.Module, source: _Source, line: int) -> tuple[int, int]:
    """Where the displayed value the compiler warned about on ``line`` starts (1-based)."""
    for node in ast.walk(tree):
        inner = node.func if isinstance(node, ast.Call) else node.value if isinstance(node, ast.Subscript) else None
        displayed = inner is not None and not isinstance(inner, (ast.Name, ast.Attribute, ast.Call, ast.Subscript))
        if inner is not None and displayed and inner.lineno <= line <= (inner.end_lineno or inner.lineno):
            return inner.lineno, source.column(inner.lineno, inner.col_offset) + 1
    return line, 1


# What mmengine's namespace holds when it executes a config besides the builtins: ``_base_``, and the
# predefined variables it substitutes in the text first (``{{ fileDirname }}``).
_GIVEN = frozenset({"_base_", "fileDirname", "fileBasename", "fileBasenameNoExtension", "fileExtname"})


def _undefined_names(
    tree: ast.Module, table: symtable.SymbolTable, source: _Source, file: str, given: frozenset[str]
) -> dict[str, Where]:
    """Names the module's own code reads but nothing binds (Python's symbol table decides, so scopes of
    functions and comprehensions are right), each at its first module-level use. A star import could
    bind anything: then none is reported."""
    if _star_import(tree):
        return {}
    unbound = {
        symbol.get_name()
        for symbol in table.get_symbols()
        if symbol.is_referenced() and not (symbol.is_assigned() or symbol.is_imported())
    }
    unbound -= given | set(dir(builtins)) | _rebound(table)
    found: dict[str, Where] = {}
    stack: list[ast.AST] = [tree]
    while stack and len(found) < len(unbound):
        node = stack.pop()
        if isinstance(node, ast.Name) and node.id in unbound and node.id not in found:
            found[node.id] = Where(file, node.lineno, source.column(node.lineno, node.col_offset) + 1)
        if not isinstance(node, _SCOPES):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found


def _star_import(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.names[0].name == "*" for node in tree.body)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_PATTERNS = (ast.MatchAs, ast.MatchStar)


def _binds(statement: ast.stmt) -> set[str]:
    """The module-level names ``statement`` binds (anywhere in it, not inside a function or a class)."""
    found: set[str] = set()
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, *_PATTERNS)):
            found |= {node.name} if node.name else set()  # an except or a pattern may bind no name
        if not isinstance(node, (*_SCOPES, *_COMPREHENSIONS)):
            stack += ast.iter_child_nodes(node)
    return found


# Module-level names a backbone swap reads or writes; a statement touching one (or a name the model's
# value is built from) that is not a plain ``NAME = value`` makes the file's meaning unknown statically.
_WATCHED = frozenset({"model", "load_from", "custom_imports"})


def _aliases_of(
    watched: frozenset[str] | set[str], aliases: list[tuple[str, set[str]]], loose: list[tuple[str, set[str]]]
) -> set[str]:
    """``watched`` and every name that shares an object with one of them, however many steps away. Of
    ``aliases`` (``name = value``: the name holds the objects of the names ``value`` holds), both ways:
    a name bound to (a part of) a watched one, and the names whose objects a watched one holds
    (``oi = [0, 1]; model = dict(backbone=dict(out_indices=oi))``: ``oi.pop()`` changes the model). Of
    ``loose`` (a loop's or a pattern's name, which may be any object its statement mentions), one way."""
    watched = set(watched)
    grew = True
    while grew:
        grew = False
        for target, sources in aliases:
            if target in watched and not sources <= watched:
                watched |= sources
                grew = True
        for target, sources in [*aliases, *loose]:
            if target not in watched and sources & watched:
                watched.add(target)
                grew = True
    return watched


def _why(node: ast.stmt, found: Effects, watched: set[str], built_from: set[str]) -> str:
    """Why ``node`` is opaque; ``built_from``: the names the ``model = ...`` value is written with."""
    if found.dynamic:
        return f"uses {found.dynamic}, after which no name is what the file says; set the values as literals"
    shadowed = sorted(found.changed & _BUILTINS & (_binds(node) | found.bound))  # not dict.update(model, ...)
    if shadowed:
        return f"binds {shadowed[0]}, a builtin otxgen reads {shadowed[0]}(...) as; give yours another name"
    bound = sorted(found.bound & watched & _WATCHED)
    if bound and isinstance(node, ast.Assign):
        if len(node.targets) > 1:
            return f"binds {bound[0]} together with another name; write {bound[0]} = ... on its own"
        return f"binds {bound[0]} a second time (the file's meaning is the last one's); keep one {bound[0]} = ..."
    if bound and not isinstance(node, _SCOPES):  # not a function's ``global model``: the module's own
        return f"binds {bound[0]} in a form otxgen does not read (only {bound[0]} = ... on its own line)"
    others = sorted((_binds(node) | found.bound) & built_from - _WATCHED)
    if others and not (found.changed | found.bound | found.mentions) & _WATCHED:  # ``if DEBUG: norm_cfg = ...``
        name = others[0]
        return (
            f"changes {name}, which the model is built from, where otxgen does not read it (which value the "
            f"model gets would depend on running the file); give {name} its value in one {name} = ... statement"
        )
    return "changes the model after its definition; fold it into the model = dict(...) it changes"


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


# Positions copied where a name's value is used: past this many, a file of 5 MiB at most is building
# values far larger than itself (``a1 = [a0, a0, ...]`` nested), which executing it would too.
COPY_LIMIT = 2_000_000


class _Evaluator:
    def __init__(self, source: _Source, file: str, folded: dict[str, Any], rebound: set[str]) -> None:
        self.source, self.file = source, file
        self.folded = folded  # the values of the literals folded out of the text, by placeholder
        # builtins the file binds to something else (``def dict(**kw): ...``): a call to one is not read
        self.builtins = _BUILTINS - rebound
        self.names = Located({})
        self._bound: set[str] = set()  # names assigned so far (the first assignment has nothing to forget)
        # the paths under each module-level name, in the three tables (so a use of a name copies its own
        # entries, not a scan of every table: linear in the file)
        self._paths: dict[str | int, dict[JsonPath, None]] = {}
        self._copies = 0
        self.unready: set[str] = set()  # names the module binds, not bound yet in the statements read so far
        self.early: dict[str, Where] = {}  # those read before their binding, at the first such read

    def assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.bind(target.id, target, node.value)

    def bind(self, name: str, target: ast.AST, expr: ast.expr) -> None:
        path: JsonPath = (name,)
        if name in self._bound:  # a later assignment replaces the earlier one, as executing would
            self._forget(path)
        self._bound.add(name)
        self.unready.discard(name)
        self._key(path, target)
        try:
            self.names.value[name] = self.eval(expr, path)
        except _UnresolvedError:
            self.names.value.pop(name, None)
            self._unresolved(path, expr)

    def _key(self, path: JsonPath, node: ast.AST) -> None:
        self.names.keys[path] = self.where_of(node)
        self._paths.setdefault(path[0], {})[path] = None

    def _unresolved(self, path: JsonPath, expr: ast.expr) -> None:
        self.names.unresolved[path] = self.source.code(expr)
        self._paths.setdefault(path[0], {})[path] = None

    def eval(self, expr: ast.expr, path: JsonPath) -> Any:
        self.names.values[path] = self.where_of(expr)
        self._paths.setdefault(path[0], {})[path] = None
        if isinstance(expr, ast.Constant):
            return expr.value
        called = expr.func.id if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) else None
        if called not in self.builtins:
            called = None
        if called == "dict":
            return self._dict_call(cast(ast.Call, expr), path)
        if called is not None:
            return self._pure_call(cast(ast.Call, expr), path)
        if isinstance(expr, ast.Dict):
            return self._dict_display(expr, path)
        if isinstance(expr, (ast.List, ast.Tuple)):
            items = [self._element(element, (*path, index)) for index, element in enumerate(expr.elts)]
            return items if isinstance(expr, ast.List) else tuple(items)
        if isinstance(expr, ast.Name):
            return self._name(expr.id, path)
        if isinstance(expr, (ast.BinOp, ast.UnaryOp, ast.Subscript)):
            return self._operation(expr, path)
        if isinstance(expr, ast.ListComp):
            return self._comprehension(expr, path)
        try:  # -1, 1e-4j, a set display: what Python reads as a literal
            return ast.literal_eval(expr)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _UnresolvedError from None

    def _operation(self, expr: ast.BinOp | ast.UnaryOp | ast.Subscript, path: JsonPath) -> Any:
        """``chans[-1]``, ``c4 // 2``, ``widths[1:]``, ``base + [2048]``, ``-x``: arithmetic on numbers,
        joining lists or tuples, and an index or a slice of a known sequence or mapping, as Python computes
        them (sizes bounded: ``[0] * 10**9`` is not read)."""
        inner = (*path, "*")
        try:
            if isinstance(expr, ast.UnaryOp):
                value = UNARY[type(expr.op)](self._number(expr.operand, inner))
            elif isinstance(expr, ast.BinOp):
                value = binary(expr.op, self.eval(expr.left, inner), self.eval(expr.right, inner))
            else:
                value = subscript(self.eval(expr.value, inner), self._index(expr.slice, inner))
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise _UnresolvedError from None
        finally:
            self._forget_recent(inner)
        return copy.deepcopy(value)

    def _comprehension(self, expr: ast.ListComp, path: JsonPath) -> list[Any]:
        """``[64 * 2**i for i in range(4)]``, ``[c * 4 for c in widths]``: one loop over a known sequence
        (or ``range`` of numbers), no condition, its item computed from the loop's name, numbers and the
        module's names by ``_operation``'s rules."""
        if len(expr.generators) != 1:
            raise _UnresolvedError
        loop = expr.generators[0]
        if loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name):
            raise _UnresolvedError
        inner = (*path, "*")
        try:
            items = self._iterable(loop.iter, inner)
            return [_computed(expr.elt, {loop.target.id: item}, self._module_value) for item in items]
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise _UnresolvedError from None
        finally:
            self._forget_recent(inner)

    def _iterable(self, expr: ast.expr, path: JsonPath) -> list[Any]:
        ranged = isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "range"
        if ranged and "range" not in self.unready | self._bound and not cast(ast.Call, expr).keywords:
            bounds = [self._number(arg, path) for arg in cast(ast.Call, expr).args]
            if not all(type(b) is int for b in bounds) or len(range(*bounds)) > LONGEST:
                raise _UnresolvedError
            return list(range(*bounds))
        items = self.eval(expr, path)
        if not isinstance(items, (list, tuple)):
            raise _UnresolvedError
        return list(items)

    def _module_value(self, name: str) -> Any:
        if name not in self.names.value:
            raise KeyError(name)
        return self.names.value[name]

    def _number(self, expr: ast.expr, path: JsonPath) -> Any:
        value = self.eval(expr, path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _UnresolvedError
        return value

    def _index(self, expr: ast.expr, path: JsonPath) -> Any:
        if isinstance(expr, ast.Slice):
            parts = (expr.lower, expr.upper, expr.step)
            return slice(*(None if part is None else self._number(part, path) for part in parts))
        return self.eval(expr, path)

    def _pure_call(self, call: ast.Call, path: JsonPath) -> Any:
        """``sum([18, 36, 72, 144])``, ``len(depths)``: a builtin without side effects on literal
        arguments is its value (OCRNet's ``channels``)."""
        if call.keywords or any(isinstance(arg, ast.Starred) for arg in call.args):
            raise _UnresolvedError
        args = [self.eval(arg, (*path, "*")) for arg in call.args]
        self._forget_recent((*path, "*"))
        try:
            return pure_call(cast(ast.Name, call.func).id, args)
        except (TypeError, ValueError, OverflowError):
            raise _UnresolvedError from None

    def _dict_call(self, call: ast.Call, path: JsonPath) -> dict[str, Any]:
        """``dict(other, key=value, **more)``: Python keeps positional arguments before keywords."""
        if any(isinstance(arg, ast.Starred) for arg in call.args):
            raise _UnresolvedError
        result: dict[str, Any] = {}
        for arg in call.args:  # dict(other): merge a resolvable mapping
            result.update(self._splat(arg, path))
        given: set[str] = set()  # keywords and ``**`` mappings may not name a key twice
        for keyword in call.keywords:
            names = set(self._splat(keyword.value, path)) if keyword.arg is None else {keyword.arg}
            twice = sorted(given & names)
            if twice:
                where = self.where_of(keyword)
                message = (
                    f"dict(...) is given {twice[0]!r} twice (a keyword and a ** mapping): Python raises "
                    "TypeError when mmengine executes the config; set it once"
                )
                raise InputError(message, where.file, where.line, where.col)
            given |= names
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
            key = self.eval(key_node, (*path, "*"))  # a literal, or a name bound to one: {K: ...} with K = 'neck'
            self._forget_recent((*path, "*"))
            if not isinstance(key, str):
                raise _UnresolvedError
            self._entry(result, key, key_node, value, path)
        return result

    def _entry(self, result: dict[str, Any], key: str, key_node: ast.AST, expr: ast.expr, path: JsonPath) -> None:
        self._key((*path, key), key_node)
        try:
            result[key] = self.eval(expr, (*path, key))
        except _UnresolvedError:
            result.pop(key, None)
            self._unresolved((*path, key), expr)

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
        if name in self.unready and name not in self.early:  # model = dict(depth=DEPTH), then DEPTH = 18
            self.early[name] = self.names.values[path]
        if name not in self.names.value:
            raise _UnresolvedError
        self._copy_positions((name,), path)
        return _copied(self.names.value[name])

    def _copy_positions(self, source: JsonPath, target: JsonPath) -> None:
        """Positions inside a name's value point at its definition; the value itself at the use site."""
        size = len(source)
        inside = [path for path in self._paths.get(source[0], ()) if len(path) > size and path[:size] == source]
        self._copies += len(inside)
        if self._copies > COPY_LIMIT:
            where = self.names.values[target]
            message = (
                f"the values this config builds from its names pass {COPY_LIMIT:,} entries (a name used many "
                "times over, nested): too large to read statically; build the value once, not by repetition"
            )
            raise InputError(message, where.file, where.line, where.col)
        index = self._paths.setdefault(target[0], {})
        for path in inside:
            copied = target + path[size:]
            index[copied] = None
            for table in (self.names.values, self.names.keys):
                if path in table:
                    table[copied] = table[path]
            if path in self.names.unresolved:
                self.names.unresolved[copied] = self.names.unresolved[path]

    def _forget(self, path: JsonPath) -> None:
        """Every entry under a module-level name (``path`` is ``(name,)``), as it is bound again."""
        for old in self._paths.pop(path[0], {}):
            for table in (self.names.values, self.names.keys, self.names.unresolved):
                table.pop(old, None)

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
