"""What a module-level statement may change, read without executing it: the names it may rebind or
mutate, the names a plain ``NAME = value`` makes an alias of, and the dynamic forms (``exec``,
``globals()``...) after which no name can be trusted.

The config view keeps a config's meaning only where every name the model is built from is set by plain
assignments: a statement that may change one of them (or an alias of one) some other way, or a dynamic
form anywhere, makes the file's meaning unknown statically. A statement that only reads such a name
(``custom_keys.update({... for i in range(len(depths))})``) changes nothing of the model.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from otxgen.facts.pysource import child_nodes

# Builtins that change nothing they are given: their arguments are only read.
PURE_CALLS = frozenset(
    {
        "len", "range", "enumerate", "zip", "sorted", "reversed", "min", "max", "sum", "abs", "round", "str",
        "int", "float", "bool", "isinstance", "any", "all", "repr", "format", "print", "hasattr", "type",
    }
)  # fmt: skip
# Of those, the ones whose result holds the very objects they are given (an element, or a container of
# them): ``b = sorted([model['backbone']])[0]`` is the model's backbone.
PASSING_CALLS = frozenset({"enumerate", "zip", "sorted", "reversed", "min", "max", "sum"})
# Builtins that build a new container from what they are given, changing none of it (their result
# shares the nested objects: see ``aliased``).
COPYING_CALLS = frozenset({"dict", "list", "tuple", "set", "frozenset"})
# Methods that read the object they are called on.
READ_METHODS = frozenset({"get", "copy", "keys", "values", "items", "count", "index", "format", "join", "startswith"})
# Forms that read or write names by string, or run text as code: after one, no name is what it says.
DYNAMIC_CALLS = frozenset(
    {"exec", "eval", "compile", "globals", "vars", "locals", "setattr", "delattr", "getattr", "__import__"}
)
# Ways to reach those by another name (``builtins.__dict__['exec']``).
DYNAMIC_NAMES = frozenset({"builtins", "__builtins__"})
DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__globals__", "__builtins__", "f_globals", "f_locals", "f_builtins"})


@dataclass
class Effects:
    """What one statement may do: ``changed``, names it may rebind or mutate; ``dynamic``, the first
    dynamic form in it ('' when none); ``bound``, the names it binds by a loop, an unpacking, ``:=``,
    ``as`` or a match pattern, each of which may be an alias of any name it ``mentions``."""

    changed: set[str] = field(default_factory=set)
    dynamic: str = ""
    bound: set[str] = field(default_factory=set)
    mentions: set[str] = field(default_factory=set)
    # (name, names): the name's object now holds the objects of those names, as ``aliased`` says of a
    # plain ``NAME = value``: stored into it (``cfg['b'] = model['backbone']``, ``f.b = ...``), or a
    # function's defaults (``def f(m=model['backbone'])``, reachable as ``f.__defaults__``)
    holds: list[tuple[str, set[str]]] = field(default_factory=list)
    # the names it calls: one that shares an object with the model is a bound method of it, saved
    # (``u = model['backbone'].update; u(depth=18)``), and may change it
    called: set[str] = field(default_factory=set)


def effects(node: ast.AST, *, plain_targets: bool) -> Effects:
    """The effects of ``node``. ``plain_targets``: whether ``NAME = ...`` counts as a change (it does
    inside compound statements and functions' ``global`` names; the evaluator follows the module's own
    plain assignments)."""
    visitor = _Visitor(plain_targets)
    visitor.visit(node)
    return visitor.found


def aliased(value: ast.expr) -> set[str]:
    """The names whose objects ``value`` may be, or hold (``x = model``, ``x = [model['neck']]``,
    ``x = dict(model)``: a shallow copy shares the nested dicts, ``sorted(...)[0]`` one of its elements); a
    builtin that makes a new value of what it reads (``len``, ``str``) holds none."""
    if isinstance(value, ast.Name):
        return {value.id}
    if isinstance(value, (ast.Attribute, ast.Subscript, ast.Starred)):
        return aliased(value.value)
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Name) and func.id in PURE_CALLS - PASSING_CALLS:
            return set()
        found = aliased(func.value) if isinstance(func, ast.Attribute) else set()
        return found.union(*map(aliased, value.args), *(aliased(keyword.value) for keyword in value.keywords))
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*map(aliased, value.elts))
    if isinstance(value, ast.Dict):
        return set().union(*map(aliased, value.values))
    if isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return aliased(value.elt)
    if isinstance(value, ast.DictComp):
        return aliased(value.value)
    if isinstance(value, ast.IfExp):
        return aliased(value.body) | aliased(value.orelse)
    if isinstance(value, ast.BinOp):
        return aliased(value.left) | aliased(value.right)
    if isinstance(value, ast.BoolOp):
        return set().union(*map(aliased, value.values))
    if isinstance(value, ast.Lambda):
        return _defaults(value.args)
    return set()


def _defaults(arguments: ast.arguments) -> set[str]:
    """The names whose objects a function's defaults may hold."""
    return set().union(*map(aliased, [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]))


def names_in(node: ast.AST) -> set[str]:
    """Every name ``node`` spells: names, attribute names, keywords and parameters."""
    found: set[str] = set()
    stack = [node]
    while stack:  # ``ast.walk`` in no order, by ``child_nodes``: a config's every statement is read so
        child = stack.pop()
        found.update(_spelled(child))
        stack.extend(child_nodes(child))
    return found


def _spelled(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return (node.attr,)
    if isinstance(node, (ast.keyword, ast.arg)) and node.arg:
        return (node.arg,)
    return ()


def _objects(node: ast.expr) -> set[str]:
    """The names whose objects ``node`` (a target's or a method's object) may be part of, kept wide:
    ``model['backbone'].depth`` -> ``{'model'}``, ``model.get('backbone')`` and ``[model][0]`` too; any
    name an argument or a display mentions may be what a call or an index gives back."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        return _objects(node.value)
    if isinstance(node, ast.Call):
        return _objects(node.func).union(*map(names_in, [*node.args, *node.keywords]))
    return names_in(node)


class _Visitor(ast.NodeVisitor):
    def __init__(self, plain_targets: bool) -> None:
        self.found = Effects()
        self.plain_targets = plain_targets
        self.functions = 0  # inside a def or lambda, a plain NAME = ... is local

    def _target(self, target: ast.expr, *, local: bool = False) -> None:
        """A binding target; ``local``: a comprehension's, which binds nothing outside it."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, local=local)
        elif isinstance(target, ast.Starred):
            self._target(target.value, local=local)
        elif isinstance(target, ast.Name):
            self._bind(target.id, local=local)
        else:
            self.found.changed |= _objects(target)

    def _bind(self, name: str, *, local: bool = False) -> None:
        self.found.bound.add(name)
        if self.plain_targets and not self.functions and not local:
            self.found.changed.add(name)

    def _dynamic(self, form: str) -> None:
        if not self.found.dynamic:
            self.found.dynamic = form

    def visit_Name(self, node: ast.Name) -> None:
        self.found.mentions.add(node.id)
        if node.id in DYNAMIC_NAMES:
            self._dynamic(node.id)
        elif node.id in DYNAMIC_CALLS and not isinstance(node.ctx, ast.Store):  # e = exec; e('...')
            self._dynamic(f"{node.id}()")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.found.mentions.add(node.attr)
        if node.attr in DYNAMIC_ATTRIBUTES:
            self._dynamic(node.attr)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        self.found.mentions |= {node.arg} if node.arg else set()
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._target(node.target, local=True)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name is not None:
            self._bind(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name is not None:
            self._bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest is not None:
            self._bind(node.rest)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name is not None:
            self._bind(node.name)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr not in READ_METHODS:
            self.found.changed |= _objects(func.value)
        if isinstance(func, ast.Name) and func.id not in PURE_CALLS | COPYING_CALLS:
            self.found.called.add(func.id)
        if not (isinstance(func, ast.Name) and func.id in PURE_CALLS | COPYING_CALLS):
            for value in [*node.args, *(keyword.value for keyword in node.keywords)]:
                self.found.changed |= aliased(value)  # a function given an object may change it
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
            self._stored(target, node.value)
        self.generic_visit(node)

    def _stored(self, target: ast.expr, value: ast.expr | None) -> None:
        """A value stored into an object (not bound to a name): the object holds what it holds."""
        held = aliased(value) if value is not None else set()
        if held and not isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Starred)):
            self.found.holds += [(name, held) for name in _objects(target)]

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.found.changed |= _objects(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self._stored(node.target, node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                self.found.changed |= _objects(element)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._target(node.optional_vars)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        name = node.asname or node.name.split(".")[0]
        if name != "*":
            self.found.changed.add(name)
            self.found.mentions.add(name)
        for spelled in {name, node.name.split(".")[0]} & DYNAMIC_NAMES:  # import builtins as b
            self._dynamic(spelled)

    def visit_Global(self, node: ast.Global) -> None:
        self.found.changed |= set(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.found.changed |= set(node.names)

    def visit_arg(self, node: ast.arg) -> None:
        self.found.bound.add(node.arg)  # a parameter may hold what its default or any caller gives it

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.functions += 1  # its own name is bound like NAME = value
        self.generic_visit(node)
        self.functions -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._holding_defaults(node)
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._holding_defaults(node)
        self._function(node)

    def _holding_defaults(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        held = _defaults(node.args)
        self.found.holds += [(node.name, held)] if held else []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        held = set().union(
            *(aliased(s.value) for s in node.body if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value)
        )
        self.found.holds += [(node.name, held)] if held else []
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)
