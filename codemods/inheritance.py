"""What a config inherits from its ``_base_`` files, read statically (no config is executed).

mmengine merges a child's dict into its base's; ``_delete_=True`` drops the base's keys first, but it is
only consumed when the base has that key: over a base without it, ``_delete_`` stays in the config and
reaches the constructor. So the codemods need to know whether the ``_base_`` chain defines e.g.
``model.backbone``. Reading files is the caller's job: ``inherits`` takes a ``read`` callback.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from codemods import _config
from codemods._literal import NotLiteralError, ast_literal, maybe_literal, quote_and_names
from codemods.errors import CodemodError

# Base files that hold data pipelines, schedules or runtime settings, never a model.
_DATA_ONLY = re.compile(r"(^|/)(datasets?|schedules?)/|default_runtime|(^|/)[^/]*runtime[^/]*\.py$")


def _base_files(module: cst.Module) -> list[str]:
    assign = _config.assigned(module, "_base_")
    value = maybe_literal(assign.value) if assign is not None else []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise _config.error_at(module, assign, "_base_ is not a literal string or list of strings")


class _Tree:
    """The few questions ``inherits`` asks of a base file, answered with ``ast`` (many times faster
    than a libcst parse; the base files are only read, never rewritten)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.assigned: dict[str, ast.expr] = {}
        for statement in ast.parse(source).body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    self.assigned[target.id] = statement.value

    def bases(self) -> list[str] | None:
        node = self.assigned.get("_base_")
        try:
            value = ast.literal_eval(node) if node is not None else []
        except ValueError:
            return None
        if isinstance(value, str):
            return [value]
        return list(value) if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value) else None

    def resolve(self, path: _config.Path) -> ast.expr | None:
        node = self.assigned.get(path[0])
        for step in path[1:]:
            if isinstance(node, (ast.List, ast.Tuple)) and step.isdigit():
                items = [item for item in node.elts if _is_dict(item)]
                node = items[int(step)] if int(step) < len(items) else None
            elif isinstance(node, ast.Call) and _is_dict(node):
                node = next((kw.value for kw in node.keywords if kw.arg == step), None)
            else:
                return None
        return node

    def deletes_above(self, path: _config.Path) -> bool:
        for end in range(1, len(path)):
            node = self.resolve(path[:end])
            if isinstance(node, ast.Call) and any(kw.arg == "_delete_" for kw in node.keywords):
                return True
        return False


def _is_dict(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"


def deletes_above(module: cst.Module, path: _config.Path) -> bool:
    """Whether a dict on the way to ``path`` (``model`` for ``model.backbone``) says ``_delete_=True``:
    then nothing below it is inherited."""
    for end in range(1, len(path)):
        node = _config.resolve(module, path[:end])
        if isinstance(node, cst.Call) and _config.keyword_arg(node, "_delete_") is not None:
            return True
    return False


def guess_inherits(module: cst.Module) -> bool:
    """Without the base files: inherit a model unless every ``_base_`` entry is a data/schedule/runtime file."""
    try:
        bases = _base_files(module)
    except Exception:  # noqa: BLE001 - an unreadable _base_ may define anything
        return True
    return any(not _DATA_ONLY.search(base) for base in bases)


def inherits(source: str, dotted: str, read: Callable[[str], str], here: str = "") -> bool | None:
    """Whether a file of the ``_base_`` chain of ``source`` defines ``dotted``; None when a base cannot
    be read or parsed (``read`` raised ``OSError``, a ``package::path`` base, a ``_base_`` that is not a
    literal, a base that is not valid Python, a chain that loops).

    ``read(path)`` returns a base file's text; ``path`` is a base entry joined onto the folder of
    ``here`` (the config's own path relative to whatever ``read`` resolves against, ``""`` for its folder).
    """
    found = _definition(_own_tree(source), _config.split_path(dotted), read, here)
    return found if found is None or isinstance(found, bool) else True


def inherited_list(source: str, dotted: str, read: Callable[[str], str], here: str = "") -> list[object] | None:
    """The list the ``_base_`` chain of ``source`` gives ``dotted`` (e.g. libra-rcnn's two necks), read as
    literals with the defining file's own module-level names; None when the nearest definition is not a
    list, or there is none, or it is unknown (as for ``inherits``).

    mmengine replaces a list, and refuses to merge a dict into one: an override of one key of an inherited
    list of necks has to be the whole list. Raises ``CodemodError`` for a list that is not literal."""
    found = _definition(_own_tree(source), _config.split_path(dotted), read, here)
    if found is None or isinstance(found, bool) or not isinstance(found.node, (ast.List, ast.Tuple)):
        return None
    try:
        value = ast_literal(found.node, quote_and_names(found.tree.source)[1])
    except NotLiteralError as exc:
        message = f"{dotted} inherited from {found.file} is a list that is not a literal; set it in this file"
        raise CodemodError(message) from exc
    return list(value) if isinstance(value, (list, tuple)) else None


def _own_tree(source: str) -> _Tree:
    try:
        return _Tree(source)
    except SyntaxError as exc:
        raise CodemodError(f"not valid Python: {exc.msg}", exc.lineno or 0, exc.offset or 0) from exc
    except ValueError as exc:  # a null byte
        raise CodemodError(f"not valid Python: {exc}") from exc


@dataclass(frozen=True)
class _Found:
    """Where the ``_base_`` chain defines a path: the base file, read, and the expression there."""

    file: str
    tree: _Tree
    node: ast.expr


def _definition(
    tree: _Tree, path: _config.Path, read: Callable[[str], str], here: str, seen: frozenset[str] | None = None
) -> _Found | bool | None:
    """The nearest base definition of ``path`` (``_Found``), False when no base defines it, None when a
    base cannot be read (see ``inherits``)."""
    seen = seen if seen is not None else frozenset({posixpath.normpath(here)} if here else ())
    if tree.deletes_above(path):
        return False
    bases = tree.bases()
    if bases is None:
        return None
    for base in bases:
        where = posixpath.normpath(posixpath.join(posixpath.dirname(here), base))
        if "::" in base or where in seen:
            return None
        try:
            parent = _Tree(read(where))
        except (OSError, SyntaxError, ValueError):
            return None
        node = parent.resolve(path)
        if node is not None:
            return _Found(where, parent, node)
        deeper = _definition(parent, path, read, where, seen | {where})
        if deeper is not False:
            return deeper
    return False
