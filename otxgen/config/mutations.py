"""What a module-level statement may change, read without executing it: the names it may rebind or
mutate, the names a plain ``NAME = value`` makes an alias of, and the dynamic forms (``exec``,
``globals()``...) after which no name can be trusted.

The config view keeps a config's meaning only where every name the model is built from is set by plain
assignments: a statement that may change one of them (or an alias of one) some other way, or a dynamic
form anywhere, makes the file's meaning unknown statically. A statement that only reads such a name
(``custom_keys.update({... for i in range(len(depths))})``) changes nothing of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

# Builtins that return a new value and change nothing they are given: their arguments are only read.
PURE_CALLS = frozenset(
    {
        "len", "range", "enumerate", "zip", "sorted", "reversed", "min", "max", "sum", "abs", "round", "str",
        "int", "float", "bool", "isinstance", "any", "all", "repr", "format", "print", "hasattr", "type",
    }
)  # fmt: skip
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
DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__globals__", "__builtins__"})


@dataclass
class Effects:
    """What one statement may do: ``changed``, names it may rebind or mutate; ``dynamic``, the first
    dynamic form in it ('' when none); ``bound``, the names it binds by a loop, an unpacking, ``:=``,
    ``as`` or a match pattern, each of which may be an alias of any name it ``mentions``."""

    changed: set[str] = field(default_factory=set)
    dynamic: str = ""
    bound: set[str] = field(default_factory=set)
    mentions: set[str] = field(default_factory=set)


def effects(node: cst.CSTNode, *, plain_targets: bool) -> Effects:
    """The effects of ``node``. ``plain_targets``: whether ``NAME = ...`` counts as a change (it does
    inside compound statements and functions' ``global`` names; the evaluator follows the module's own
    plain assignments)."""
    visitor = _Visitor(plain_targets)
    node.visit(visitor)
    return visitor.found


def aliased(value: cst.BaseExpression) -> set[str]:
    """The names whose objects ``value`` may be, or hold (``x = model``, ``x = [model['neck']]``,
    ``x = dict(model)``: a shallow copy shares the nested dicts); a pure builtin's result holds none."""
    if isinstance(value, cst.Name):
        return {value.value}
    if isinstance(value, (cst.Attribute, cst.Subscript)):
        return aliased(value.value)
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Name) and func.value in PURE_CALLS:
            return set()
        found = aliased(func.value) if isinstance(func, cst.Attribute) else set()
        return found.union(*(aliased(arg.value) for arg in value.args))
    if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
        return set().union(*(aliased(element.value) for element in value.elements))
    if isinstance(value, cst.Dict):
        return set().union(*(aliased(element.value) for element in value.elements))
    if isinstance(value, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
        return aliased(value.elt)
    if isinstance(value, cst.DictComp):
        return aliased(value.value)
    if isinstance(value, cst.IfExp):
        return aliased(value.body) | aliased(value.orelse)
    if isinstance(value, (cst.BinaryOperation, cst.BooleanOperation)):
        return aliased(value.left) | aliased(value.right)
    return set()


def names_in(node: cst.CSTNode) -> set[str]:
    """Every ``Name`` in ``node`` (keywords and attribute names are Names too, as libcst spells them)."""
    collector = _Names()
    node.visit(collector)
    return collector.found


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.found.add(node.value)


def _root(node: cst.BaseExpression) -> str | None:
    """``model['backbone'].depth`` -> ``'model'``."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


class _Visitor(cst.CSTVisitor):
    def __init__(self, plain_targets: bool) -> None:
        self.found = Effects()
        self.plain_targets = plain_targets
        self.functions = 0  # inside a def or lambda, a plain NAME = ... is local

    def _target(self, target: cst.BaseExpression, *, local: bool = False) -> None:
        """A binding target; ``local``: a comprehension's, which binds nothing outside it."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, local=local)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, local=local)
        elif isinstance(target, cst.Name):
            self.found.bound.add(target.value)
            if self.plain_targets and not self.functions and not local:
                self.found.changed.add(target.value)
        elif (root := _root(target)) is not None:
            self.found.changed.add(root)

    def visit_Name(self, node: cst.Name) -> None:
        self.found.mentions.add(node.value)
        if node.value in DYNAMIC_NAMES and not self.found.dynamic:
            self.found.dynamic = node.value

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in DYNAMIC_ATTRIBUTES and not self.found.dynamic:
            self.found.dynamic = node.attr.value

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._target(node.target, local=True)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._target(node.name)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self._target(node.name)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self._target(node.rest)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in DYNAMIC_CALLS and not self.found.dynamic:
            self.found.dynamic = f"{func.value}()"
        if isinstance(func, cst.Attribute) and func.attr.value not in READ_METHODS:
            root = _root(func.value)
            self.found.changed |= {root} if root else set()
        if not (isinstance(func, cst.Name) and func.value in PURE_CALLS | COPYING_CALLS):
            for arg in node.args:  # a function given an object may change it
                self.found.changed |= aliased(arg.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        root = _root(node.target)
        self.found.changed |= {root} if root else set()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        root = _root(node.target) if not isinstance(node.target, (cst.Tuple, cst.List)) else None
        self.found.changed |= {root} if root else set()
        if isinstance(node.target, (cst.Tuple, cst.List)):
            for element in node.target.elements:
                self.found.changed |= {r} if (r := _root(element.value)) else set()

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        name = node.asname.name if node.asname is not None else node.name
        if isinstance(name, cst.Name):
            self.found.changed.add(name.value)
        elif isinstance(name, cst.Attribute) and (root := _root(name)):
            self.found.changed.add(root)

    def visit_Global(self, node: cst.Global) -> None:
        self.found.changed |= {item.name.value for item in node.names}

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.found.changed |= {item.name.value for item in node.names}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:  # its name is bound like NAME = value
        self.functions += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.functions += 1

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.functions -= 1
