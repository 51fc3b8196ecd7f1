"""Wrap a value otxgen wrote on one line the way mm configs are written, when its line would pass the
file's width: a ``dict(...)`` or ``{...}`` one key a line, a list one item a line, recursively, each only as far as
needed. A value that already spans lines keeps its layout (and its comments); only its one-line parts
that overflow are wrapped. A value with nothing to break at (a long string) stays as it is."""

from __future__ import annotations

import libcst as cst

from codemods import _layout
from codemods._config import assigned_name, is_dict_call
from codemods._literal import code_of, expression
from codemods._merge import is_plain_dict
from codemods._print import Printer

STEP = "    "
MIN_WIDTH = 79  # the width OpenMMLab's configs are formatted to (yapf); a file with longer lines allows them


def width_of(source: str) -> int:
    """The line width the file keeps to: its longest line, at least ``MIN_WIDTH``."""
    return max(MIN_WIDTH, *(len(line) for line in source.splitlines()), 0)


def wrapped(node: cst.BaseExpression, indent: str, column: int, width: int, trailing: bool) -> cst.BaseExpression:
    """``node``, starting at ``column`` on a line indented by ``indent``, wrapped to ``width``."""
    code = code_of(node)
    if "\n" not in code:
        return node if column + len(code) <= width else expression(_text(node, indent, column, width, trailing))
    first, *rest = code.split("\n")
    if column + len(first) <= width and all(len(line) <= width for line in rest):
        return node  # spread out already, and no line of it overflows: nothing below needs wrapping
    if isinstance(node, (cst.List, cst.Tuple)):
        inner = indent + STEP  # a spread-out list holds an item a line
        elements = [e.with_changes(value=wrapped(e.value, inner, len(inner), width, trailing)) for e in node.elements]
        changed = any(new.value is not old.value for new, old in zip(elements, node.elements, strict=True))
        return node.with_changes(elements=elements) if changed else node
    if isinstance(node, cst.Dict):
        return _wrapped_display(node, column, width, trailing)
    if not is_plain_dict(node):
        return node
    call = node
    assert isinstance(call, cst.Call)
    args = list(call.args)
    _, items = _layout.decompose(call)
    if "#" not in code and any(item.placement is not None and not item.placement.newline for item in items[1:]):
        # keys that share a line, one of which overflows: a key a line (nothing said between them to keep)
        return expression(_text(call, indent, column, width, trailing))
    here = " " * (column + len(code_of(call.func)) + 1)  # a key right after "(": the hanging layout's column
    for position, (arg, item) in enumerate(zip(args, items, strict=True)):
        assert arg.keyword is not None
        placement = item.placement
        if placement is not None and placement.newline:  # a key a line, at the indentation the file gives it
            here = placement.indent
        start = len(here) + len(arg.keyword.value) + 1
        new = wrapped(arg.value, here, start, width, trailing)
        if new is not arg.value:
            args[position] = arg.with_changes(value=new)
    return call.with_changes(args=args)


def _wrapped_display(node: cst.Dict, column: int, width: int, trailing: bool) -> cst.Dict:
    """A spread-out ``{...}`` display with each value wrapped from the column its key stands at."""
    elements = list(node.elements)
    if not all(isinstance(element, cst.DictElement) for element in elements):
        return node
    before = [node.lbrace.whitespace_after, *(getattr(e.comma, "whitespace_after", None) for e in elements[:-1])]
    here = " " * (column + 1)  # a key right after "{": the hanging layout's column
    for position, (element, space) in enumerate(zip(elements, before, strict=True)):
        assert isinstance(element, cst.DictElement)
        if isinstance(space, cst.ParenthesizedWhitespace):  # a key a line, at the indentation the file gives it
            here = space.last_line.value
        start = len(here) + len(code_of(element.key)) + len(code_of(element.whitespace_after_colon)) + 1
        new = wrapped(element.value, here, start, width, trailing)
        if new is not element.value:
            elements[position] = element.with_changes(value=new)
    return node.with_changes(elements=elements)


def _text(node: cst.BaseExpression, indent: str, column: int, width: int, trailing: bool) -> str:
    code = code_of(node)
    if column + len(code) <= width:
        return code
    inner = indent + STEP
    close = f",\n{indent}" if trailing else ""
    if isinstance(node, cst.Call) and is_dict_call(node) and node.args:
        items = []
        for arg in node.args:
            key = f"{arg.keyword.value}=" if arg.keyword is not None else str(arg.star)
            items.append(inner + key + _text(arg.value, inner, len(inner) + len(key), width, trailing))
        return f"{code_of(node.func)}(\n" + ",\n".join(items) + close + ")"
    if isinstance(node, cst.Dict) and all(isinstance(e, cst.DictElement) for e in node.elements) and node.elements:
        pairs = []
        for element in node.elements:
            assert isinstance(element, cst.DictElement)
            key = f"{code_of(element.key)}: "
            pairs.append(inner + key + _text(element.value, inner, len(inner) + len(key), width, trailing))
        return "{\n" + ",\n".join(pairs) + close + "}"
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        parts = [inner + _text(e.value, inner, len(inner), width, trailing) for e in node.elements]
        single = isinstance(node, cst.Tuple) and len(parts) == 1
        opening, closing = ("[", "]") if isinstance(node, cst.List) else ("(", ")")
        return opening + "\n" + ",\n".join(parts) + ("," if single and not trailing else "") + close + closing
    return code


def wrap_changed(module: cst.Module, printer: Printer, width: int, trailing: bool) -> cst.Module:
    """``module`` with the value of each top-level ``NAME = value`` that differs from the original's
    text (``printer.original``) wrapped to ``width``; statements as the file wrote them are left alone. A
    statement whose every line fits is left as it is without more: the text of the others alone is
    compared and wrapped."""
    original = printer.original
    kept = {id(statement) for statement in original.body}  # the steps hand untouched statements on as they are
    present = {id(statement) for statement in module.body}
    before: set[str] | None = None
    body = list(module.body)
    for position, statement in enumerate(body):
        name = assigned_name(statement)
        if name is None or id(statement) in kept:
            continue
        code = printer.statement(module, statement)
        if all(len(line) <= width for line in code.split("\n")):
            continue
        if before is None:
            before = {printer.original_text(s) for s in original.body if id(s) not in present}
        if code in before:
            continue
        assert isinstance(statement, cst.SimpleStatementLine)
        assign = statement.body[0]
        assert isinstance(assign, cst.Assign)
        value = wrapped(assign.value, "", len(name) + 3, width, trailing)
        if value is not assign.value:
            body[position] = statement.with_changes(body=[assign.with_changes(value=value)])
    return module.with_changes(body=body)


def rewrapped(before: str, after: str) -> str:
    """``after`` (``before`` rewritten by the codemods) with its changed statements wrapped to
    ``before``'s width, as ``swap_backbone`` leaves them."""
    from codemods._config import parse
    from codemods._merge import Style

    if after == before:
        return after
    printer = Printer(parse(before), before)
    module = wrap_changed(parse(after), printer, width_of(before), Style.from_source(before).trailing_comma)
    return module.code
