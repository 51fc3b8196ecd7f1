"""Make a config import the modules that register a library's backbones (``custom_imports``)."""

from __future__ import annotations

import libcst as cst

from codemods import _config
from codemods._literal import maybe_literal, quote_string
from codemods._merge import Style, is_plain_dict, merge_call
from codemods.errors import CodemodError


def _strings(modules: list[str]) -> list[str]:
    if not all(isinstance(name, str) and name and all(p.isidentifier() for p in name.split(".")) for name in modules):
        raise CodemodError(f"modules must be dotted module names, got {modules!r}")
    return list(dict.fromkeys(modules))


def _append_elements(seq: cst.List | cst.Tuple, names: list[str], quote: str) -> cst.BaseExpression:
    """Append string elements after the last one, separated like the existing ones; a trailing comma and
    the comment after it stay on the element they followed."""
    old = list(seq.elements)
    added = [cst.Element(cst.SimpleString(quote_string(name, quote))) for name in names]
    separator = next((e.comma for e in old[:-1] if isinstance(e.comma, cst.Comma)), None)
    separator = separator or cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if not old:
        return seq.with_changes(elements=[e.with_changes(comma=separator) for e in added[:-1]] + added[-1:])
    closing, gap = old[-1].comma, _closing_gap(seq)
    last_comma = separator
    if isinstance(closing, cst.Comma) and isinstance(gap, cst.ParenthesizedWhitespace):
        sibling = separator.whitespace_after
        indent = sibling.last_line if isinstance(sibling, cst.ParenthesizedWhitespace) else gap.last_line
        last_comma = closing.with_changes(whitespace_after=gap.with_changes(empty_lines=[], last_line=indent))
        seq = _with_closing_gap(seq, gap.with_changes(first_line=cst.TrailingWhitespace()))
    middle = [e.with_changes(comma=separator) for e in added[:-1]]
    elements = [*old[:-1], old[-1].with_changes(comma=last_comma), *middle, added[-1].with_changes(comma=closing)]
    return seq.with_changes(elements=elements)


def _closing_gap(seq: cst.List | cst.Tuple) -> cst.BaseParenthesizableWhitespace | None:
    """The whitespace before ``]`` / ``)``, where libcst keeps the comment after a trailing comma."""
    if isinstance(seq, cst.List):
        return seq.rbracket.whitespace_before
    return seq.rpar[-1].whitespace_before if seq.rpar else None


def _with_closing_gap(seq: cst.List | cst.Tuple, gap: cst.BaseParenthesizableWhitespace) -> cst.List | cst.Tuple:
    if isinstance(seq, cst.List):
        return seq.with_changes(rbracket=seq.rbracket.with_changes(whitespace_before=gap))
    return seq.with_changes(rpar=[*seq.rpar[:-1], seq.rpar[-1].with_changes(whitespace_before=gap)])


def _merged_imports(call: cst.Call, modules: list[str], style: Style) -> cst.Call:
    node = _config.dict_value(call, "imports")
    current = maybe_literal(node, style.names)
    have = [current] if isinstance(current, str) else list(current) if isinstance(current, (list, tuple)) else []
    missing = [name for name in modules if name not in have]
    if not missing:
        return call
    if isinstance(node, (cst.List, cst.Tuple)) and all(isinstance(e.value, cst.SimpleString) for e in node.elements):
        new = _append_elements(node, missing, style.quote)
        return cst.ensure_type(_config.replaced(call, ("imports",), new), cst.Call)
    if node is not None and not isinstance(current, str):
        raise CodemodError("custom_imports.imports is not a literal list of module names")
    return merge_call(call, {"imports": [*have, *missing]}, style, drop_missing=False)


def _heads_the_file(statement: cst.CSTNode) -> bool:
    """An import, or ``_base_ = ...``: what ``custom_imports`` goes after."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    return isinstance(statement.body[0], (cst.Import, cst.ImportFrom)) or _config.assigned_name(statement) == "_base_"


def _insert_at(module: cst.Module) -> int:
    """After the imports and ``_base_`` at the top of the file, else first."""
    index = 0
    for position, statement in enumerate(module.body):
        if _heads_the_file(statement):
            index = position + 1
    return index


def add_custom_imports_in_module(module: cst.Module, modules: list[str], style: Style | None = None) -> cst.Module:
    """The CST-level rewrite behind ``add_custom_imports`` (``style`` defaults to the module's own)."""
    names = _strings(modules)
    if not names:
        return module
    style = style or Style.of(module)
    assign = _config.assigned(module, "custom_imports")
    if assign is None:
        code = "custom_imports = " + _new_value(names, style.quote) + "\n"
        body = list(module.body)
        body.insert(_insert_at(module), cst.parse_statement(code))
        return module.with_changes(body=body)
    if not isinstance(assign.value, cst.Call) or not is_plain_dict(assign.value):
        raise _config.error_at(module, assign.value, "custom_imports is not a dict(...) the codemod can extend")
    new = _merged_imports(assign.value, names, style)
    return module if new is assign.value else _config.replace_at(module, ("custom_imports",), new)


def set_custom_imports_in_module(
    module: cst.Module, wanted: list[str], style: Style | None = None, drop_empty: bool = False
) -> cst.Module:
    """``custom_imports.imports`` made to list exactly ``wanted``: entries not wanted are removed (the
    others keep their text), missing ones appended; a file without ``custom_imports`` gets one. The
    caller passes the WHOLE list mmengine should see: a child's list replaces its base's. With
    ``drop_empty`` (no base lists imports), a statement left as ``dict(imports=[],
    allow_failed_imports=False)``, the form otxgen writes, is removed: it says nothing."""
    names = _strings(wanted)
    style = style or Style.of(module)
    assign = _config.assigned(module, "custom_imports")
    if assign is not None and isinstance(assign.value, cst.Call) and is_plain_dict(assign.value):
        node = _config.dict_value(assign.value, "imports")
        if isinstance(node, (cst.List, cst.Tuple)):
            kept = [e for e in node.elements if maybe_literal(e.value) in names]
            if len(kept) < len(node.elements):
                if kept:
                    kept[-1] = kept[-1].with_changes(comma=node.elements[-1].comma)
                new = _config.replaced(assign.value, ("imports",), node.with_changes(elements=kept))
                module = _config.replace_at(module, ("custom_imports",), new)
    if drop_empty and not names:
        module = _without_empty_imports(module)
    if assign is None and not names:
        return module
    if assign is None:
        return add_custom_imports_in_module(module, names, style)
    return add_custom_imports_in_module(module, names, style) if names else module


def _without_empty_imports(module: cst.Module) -> cst.Module:
    """``module`` without a ``custom_imports = dict(imports=[], allow_failed_imports=False)`` line."""
    assign = _config.assigned(module, "custom_imports")
    if assign is None or not (isinstance(assign.value, cst.Call) and is_plain_dict(assign.value)):
        return module
    if maybe_literal(assign.value) != {"imports": [], "allow_failed_imports": False}:
        return module
    return _config.remove_statement(module, "custom_imports")


def _new_value(names: list[str], quote: str) -> str:
    listed = ", ".join(quote_string(name, quote) for name in names)
    return f"dict(imports=[{listed}], allow_failed_imports=False)"


def add_custom_imports(source: str, modules: list[str]) -> str:
    """Add ``modules`` to ``custom_imports = dict(imports=[...], allow_failed_imports=False)``.

    Existing entries and their comments stay; a module already listed is not added again; a missing
    ``custom_imports`` is created after the imports and ``_base_`` at the top of the file. (A child
    config's ``imports`` list replaces its ``_base_``'s list in mmengine, as for any list.)

    Before::

        _base_ = ['./model.py']
        custom_imports = dict(imports=['mmpretrain.models'], allow_failed_imports=False)

    ``add_custom_imports(source, ['otxgen.libraries.torchvision'])``::

        _base_ = ['./model.py']
        custom_imports = dict(imports=['mmpretrain.models', 'otxgen.libraries.torchvision'], allow_failed_imports=False)
    """
    return add_custom_imports_in_module(_config.parse(source), modules, Style.from_source(source)).code
