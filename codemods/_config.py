"""Find things in an mmengine config module: top-level assignments, ``dict(...)`` keys, dotted paths."""

from __future__ import annotations

import ast
import functools
import io
import itertools
import re
from collections.abc import Collection
from typing import cast

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from codemods.errors import CodemodError
from otxgen.facts.pysource import SourceError, check_syntax

# Shapes are tested with isinstance, not libcst.matchers: importing the matchers costs about 0.27 s,
# most of a static swap's whole process.

Path = tuple[str, ...]


def parse(source: str) -> cst.Module:
    """Parse config source, turning a syntax error into a ``CodemodError`` with its position.

    Python's own parser reads it first (it stops cleanly on any input), so libcst only ever sees
    valid Python nested at most ``MAX_DEPTH`` levels."""
    _checked(source)
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise CodemodError(f"invalid Python: {exc.message}", exc.raw_line, exc.raw_column + 1) from exc
    # a final lone CR (old Mac line endings), which libcst takes for no newline and would drop, kept
    if not module.has_trailing_newline and source.endswith("\r"):
        return module.with_changes(has_trailing_newline=True)
    return module


def _checked(source: str) -> ast.Module:
    """Python's tree of ``source`` (``check_syntax``: the one parse a process makes of a text), or a
    ``CodemodError`` at what Python refuses."""
    try:
        return check_syntax(source)
    except SourceError as error:
        raise CodemodError(error.message, error.line, error.col) from None


def parse_reading(source: str, names: Collection[str]) -> tuple[cst.Module, frozenset[int]]:
    """``parse(source)`` for a caller that reads and changes only the top-level statements that assign
    ``names``, ``_base_`` or ``custom_imports``, those with a ``backbone`` in their text, and the statements
    other than a plain ``NAME = value``. The value of each other ``NAME = value`` that has its lines to
    itself is stood in for by ``(0)`` over the same lines (its line breaks kept): libcst's parse is most
    of a swap's cost, and a config's pipelines and datasets are most of its text. Also the positions in
    ``.body`` of the statements stood in for, which the caller must hand on untouched and print as the
    source has them (``_print.Printer.cuts``), or parse the whole source after all.

    The names that the kept statements read are kept too, and the names those read (``norm_cfg``)."""
    body = _checked(source).body
    kept = {*names, "_base_", "custom_imports"}
    candidates = {index for index, statement in enumerate(body) if _stands_in(statement, index, body, kept)}
    if not candidates:  # most configs: a ``_base_`` and a ``model``
        return parse(source), frozenset()
    values: dict[str, list[ast.expr]] = {}
    for statement in body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(statement.value)
    lines = io.StringIO(source, newline="").readlines()
    for index in sorted(candidates):  # one that mentions a backbone is read (``backbone_path``), and what it reads
        statement = body[index]
        if "backbone" in "".join(lines[statement.lineno - 1 : statement.end_lineno]):
            kept.add(cast(ast.Name, cast(ast.Assign, statement).targets[0]).id)
    for index, statement in enumerate(body):  # the names any statement that is kept reads are kept
        if index not in candidates:
            kept.update(node.id for node in ast.walk(statement) if isinstance(node, ast.Name))
    reading = [name for name in kept if name in values]
    while reading:
        for value in values.pop(reading.pop()):
            for node in ast.walk(value):
                if isinstance(node, ast.Name) and node.id not in kept:
                    kept.add(node.id)
                    if node.id in values:
                        reading.append(node.id)
    starts = [0, *itertools.accumulate(len(line) for line in lines)]
    pieces, at, stood = [], 0, []
    for index in sorted(candidates):
        statement = cast(ast.Assign, body[index])
        if cast(ast.Name, statement.targets[0]).id in kept:
            continue
        value = statement.value
        first = _offset(lines, starts, value.lineno, value.col_offset)
        last = _offset(lines, starts, value.end_lineno or value.lineno, value.end_col_offset)
        pieces += [source[at:first], "(", *_LINE_BREAK.findall(source, first, last), "0)"]
        at = last
        stood.append(index)
    if not stood:
        return parse(source), frozenset()
    return parse("".join([*pieces, source[at:]])), frozenset(stood)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _stands_in(statement: ast.stmt, index: int, body: list[ast.stmt], kept: set[str]) -> bool:
    """Whether ``statement`` is a ``NAME = value`` of a name not ``kept``, alone on its lines, whose value
    is long enough to be worth standing in for."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
        return False
    target = statement.targets[0]
    if not isinstance(target, ast.Name) or target.id in kept or isinstance(statement.value, (ast.Constant, ast.Name)):
        return False
    end = statement.end_lineno or statement.lineno
    alone_before = index == 0 or (body[index - 1].end_lineno or 0) < statement.lineno
    return alone_before and (index + 1 == len(body) or body[index + 1].lineno > end)


def _offset(lines: list[str], starts: list[int], line: int, column: int | None) -> int:
    """The offset in the source of a 1-based ``line`` and a UTF-8 byte ``column`` (as ast gives them)."""
    text, column = lines[line - 1], column or 0
    return starts[line - 1] + (column if text.isascii() else len(text.encode()[:column].decode(errors="replace")))


def assignments(module: cst.Module) -> tuple[tuple[str, cst.Assign], ...]:
    """Top-level ``NAME = value`` statements in file order (indexed once per module: nodes are immutable)."""
    return _assignments(module)


@functools.lru_cache(maxsize=16)
def _assignments(module: cst.Module) -> tuple[tuple[str, cst.Assign], ...]:
    found = []
    for statement in module.body:
        name = assigned_name(statement)
        if name is not None:
            assign = cst.ensure_type(cst.ensure_type(statement, cst.SimpleStatementLine).body[0], cst.Assign)
            found.append((name, assign))
    return tuple(found)


def assigned_name(statement: cst.CSTNode) -> str | None:
    """``NAME`` of a statement that is one ``NAME = value`` and nothing else, else None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    assign = statement.body[0]
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    return target.value if isinstance(target, cst.Name) else None


def assigned(module: cst.Module, name: str) -> cst.Assign | None:
    """The last top-level assignment to ``name`` (the one mmengine sees). One that shares its line with
    another statement (``a = 1; model = dict(...)``) is a ``CodemodError`` at it: the codemods rewrite
    a statement on a line of its own."""
    shared = _shared(module).get(name)
    if shared is not None:
        message = f"{name} = ... shares its line with another statement (;): put it on a line of its own"
        raise error_at(module, shared, message)
    found = None
    for target, assign in assignments(module):
        if target == name:
            found = assign
    return found


@functools.lru_cache(maxsize=16)
def _shared(module: cst.Module) -> dict[str, cst.Assign]:
    """The top-level ``NAME = value`` statements that share a line with another (``;``), by name."""
    found: dict[str, cst.Assign] = {}
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) > 1:
            for small in statement.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name):
                        found[target.value] = small
    return found


def has_base(module: cst.Module) -> bool:
    """Whether the config inherits from ``_base_`` files, so its dicts are merged into the base's."""
    return assigned(module, "_base_") is not None


def is_dict_call(node: cst.CSTNode | None) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict"


def keyword_arg(call: cst.Call, key: str) -> cst.Arg | None:
    """The ``key=...`` argument of a ``dict(...)`` call."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == key:
            return arg
    return None


def dict_value(call: cst.Call, key: str) -> cst.BaseExpression | None:
    arg = keyword_arg(call, key)
    return arg.value if arg is not None else None


def dicts_in(node: cst.BaseExpression) -> list[cst.Call]:
    """``node`` itself when it is a ``dict(...)``, or the ``dict(...)`` items of a list/tuple of them."""
    return [mapping for mapping in _mappings_in(node) if isinstance(mapping, cst.Call)]


def mapping_items(node: cst.BaseExpression | None) -> list[tuple[str, cst.BaseExpression]] | None:
    """The keys and values of a mapping written out: a ``dict(...)``'s keyword arguments, or a ``{...}``
    display's when every key is a string literal (else, and for anything else, None)."""
    if isinstance(node, cst.Call) and is_dict_call(node):
        return [(arg.keyword.value, arg.value) for arg in node.args if arg.keyword is not None]
    if not isinstance(node, cst.Dict):
        return None
    items: list[tuple[str, cst.BaseExpression]] = []
    for element in node.elements:
        if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
            return None
        key = element.key.evaluated_value
        if not isinstance(key, str):
            return None
        items.append((key, element.value))
    return items


def _mappings_in(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``node`` itself when it is a mapping written out, or the mapping items of a list/tuple of them."""
    if mapping_items(node) is not None:
        return [node]
    if isinstance(node, (cst.List, cst.Tuple)):
        return [el.value for el in node.elements if mapping_items(el.value) is not None]
    return []


def keyword_paths(node: cst.BaseExpression, key: str, prefix: Path) -> list[Path]:
    """Dotted paths of every ``key`` inside nested mappings written out (list items count as ``name.N``):
    ``dict(...)`` calls, and ``{...}`` displays that configure a module (with a ``'type'``); a display of
    other keys maps names to options (``custom_keys={'backbone': dict(lr_mult=0.1)}``), not arguments.
    In the order they are written."""
    found: list[Path] = []
    _keyword_paths(mapping_items(node) or [], key, prefix, found)
    return found


def _keyword_paths(items: list[tuple[str, cst.BaseExpression]], key: str, prefix: Path, found: list[Path]) -> None:
    for name, value in items:
        here = (*prefix, name)
        if name == key:
            found.append(here)
        inner = mapping_items(value)
        if inner is not None:  # a mapping: its keys are under ``here``
            if isinstance(value, cst.Call) or any(item == "type" for item, _ in inner):
                _keyword_paths(inner, key, here, found)
        elif isinstance(value, (cst.List, cst.Tuple)):  # mappings among its items: under ``here.N``
            index = 0
            for element in value.elements:
                inner = mapping_items(element.value)
                if inner is None:
                    continue
                if isinstance(element.value, cst.Call) or any(item == "type" for item, _ in inner):
                    _keyword_paths(inner, key, (*here, str(index)), found)
                index += 1


@functools.lru_cache(maxsize=16)
def all_keyword_paths(module: cst.Module, key: str) -> tuple[Path, ...]:
    """Every ``key`` path under the top-level ``NAME = dict(...)`` (or ``{...}``) assignments (latest
    assignment wins); found once a module (nodes are immutable: a swap asks twice of the same one)."""
    latest = {name: assign for name, assign in assignments(module)}
    return tuple(path for name, assign in latest.items() for path in keyword_paths(assign.value, key, (name,)))


def resolve(module: cst.Module, path: Path) -> cst.BaseExpression | None:
    """The expression at a dotted path (``model.neck.0``), or None when a step is missing."""
    assign = assigned(module, path[0])
    return resolve_in(assign.value, path[1:]) if assign is not None else None


def resolve_in(root: cst.BaseExpression, steps: Path) -> cst.BaseExpression | None:
    """The expression at the relative path ``steps`` under ``root``; a digit picks the n-th dict of a list
    (``0`` is the dict itself when there is no list)."""
    node: cst.BaseExpression | None = root
    for step in steps:
        if node is None:
            return None
        if step.isdigit():
            nested = _mappings_in(node)
            node = nested[int(step)] if int(step) < len(nested) else None
        else:
            node = dict(mapping_items(node) or ()).get(step)
    return node


def replace_at(module: cst.Module, path: Path, new: cst.BaseExpression) -> cst.Module:
    """``module`` with the expression at ``path`` replaced, rebuilding only the nodes on the way to it
    (libcst's ``deep_replace`` would rebuild the whole tree)."""
    index = max(i for i, statement in enumerate(module.body) if _assigns(statement, path[0]))
    statement = cst.ensure_type(module.body[index], cst.SimpleStatementLine)
    assign = cst.ensure_type(statement.body[0], cst.Assign)
    new_statement = statement.with_changes(body=[assign.with_changes(value=replaced(assign.value, path[1:], new))])
    return module.with_changes(body=[*module.body[:index], new_statement, *module.body[index + 1 :]])


def _assigns(statement: cst.CSTNode, name: str) -> bool:
    return assigned_name(statement) == name


def replaced(node: cst.BaseExpression, steps: Path, new: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` with the expression at the relative path ``steps`` replaced (see ``resolve``)."""
    if not steps:
        return new
    step, rest = steps[0], steps[1:]
    if step.isdigit() and mapping_items(node) is not None:
        return replaced(node, rest, new)
    if step.isdigit():
        sequence = node if isinstance(node, (cst.List, cst.Tuple)) else None
        assert sequence is not None, f"no list at {step}"
        elements = list(sequence.elements)
        at = [i for i, element in enumerate(elements) if mapping_items(element.value) is not None][int(step)]
        elements[at] = elements[at].with_changes(value=replaced(elements[at].value, rest, new))
        return sequence.with_changes(elements=elements)
    if isinstance(node, cst.Dict):
        entries = list(node.elements)
        at = next(i for i, (key, _) in enumerate(mapping_items(node) or ()) if key == step)
        entries[at] = entries[at].with_changes(value=replaced(entries[at].value, rest, new))
        return node.with_changes(elements=entries)
    call = cst.ensure_type(node, cst.Call)
    args = list(call.args)
    at = next(i for i, arg in enumerate(args) if arg.keyword is not None and arg.keyword.value == step)
    args[at] = args[at].with_changes(value=replaced(args[at].value, rest, new))
    return call.with_changes(args=args)


def position(module: cst.Module, node: cst.CSTNode) -> tuple[int, int]:
    """1-based line and column of ``node`` (``node`` must belong to ``module``)."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    where = wrapper.resolve(PositionProvider).get(node)
    if not isinstance(where, CodeRange):
        return 0, 0
    return where.start.line, where.start.column + 1


def error_at(module: cst.Module, node: cst.CSTNode | None, message: str) -> CodemodError:
    line, col = position(module, node) if node is not None else (0, 0)
    return CodemodError(message, line, col)


def has_comments(module: cst.Module, name: str) -> bool:
    """Whether the last top-level ``name = ...`` statement carries a comment (above it, at the end of
    its line, or inside its value)."""
    assign = assigned(module, name)
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and statement.body and statement.body[0] is assign:
            above = any(line.comment is not None for line in statement.leading_lines)
            return above or "#" in module.code_for_node(statement).split("\n", len(statement.leading_lines))[-1]
    return False


def remove_statement(module: cst.Module, name: str) -> cst.Module:
    """``module`` without its last top-level ``name = ...`` statement (the one mmengine sees). The
    comment lines above it stay, above the statement that follows (or at the end of the file)."""
    assign = assigned(module, name)
    body: list[cst.BaseStatement] = []
    kept: list[cst.EmptyLine] = []  # the removed statement's comment lines, for what follows
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and statement.body and statement.body[0] is assign:
            kept = list(statement.leading_lines) if any(line.comment for line in statement.leading_lines) else []
            continue
        if kept and isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            statement = statement.with_changes(leading_lines=[*kept, *statement.leading_lines])
            kept = []
        body.append(statement)
    footer = [*kept, *module.footer] if kept else module.footer
    return module.with_changes(body=body, footer=footer)


def append_statement(module: cst.Module, code: str) -> cst.Module:
    """Add a statement at the end of the module (after a blank line)."""
    statement = cst.parse_statement(code)
    blank = [cst.EmptyLine()] if module.body else []
    statement = statement.with_changes(leading_lines=blank)
    return module.with_changes(body=[*module.body, statement])


def split_path(target: str) -> Path:
    parts = tuple(part for part in target.split(".") if part)
    if len(parts) < 2 or not all(part.isidentifier() or part.isdigit() for part in parts):
        raise CodemodError(f"target {target!r} is not a dotted path like 'model.backbone'")
    return parts
