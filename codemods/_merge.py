"""Merge new values into a ``dict(...)`` call: equal values keep their text, others are rendered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst

from codemods import _layout
from codemods._config import is_dict_call
from codemods._literal import (
    NotLiteralError,
    expression,
    maybe_literal,
    quote_and_names,
    render_like,
)
from otxgen.facts.values import same_value


@dataclass(frozen=True)
class Style:
    """What the file looks like: its quote character and the literal module-level names it defines."""

    quote: str = "'"
    names: Mapping[str, object] = field(default_factory=dict)
    trailing_comma: bool = False  # new multi-line blocks end with a comma and close on their own line

    @classmethod
    def from_source(cls, source: str) -> Style:
        """Read from the text with ``ast`` (C-fast), not by walking the CST."""
        return cls(*quote_and_names(source))

    @classmethod
    def of(cls, module: cst.Module) -> Style:
        return cls.from_source(module.code)


class UnplainDictError(Exception):
    """A ``dict(...)`` to merge into holds a positional or ``**`` argument (``node``): its keys are unknown,
    so a key could be lost or given twice. Callers turn it into a ``CodemodError`` at ``node``'s position."""

    def __init__(self, node: cst.Arg) -> None:
        super().__init__("a dict(...) with positional or ** arguments")
        self.node = node


def is_plain_dict(node: cst.BaseExpression | None) -> bool:
    """A ``dict(k=v, ...)`` call with keyword arguments only (no ``**other``), so keys can be merged."""
    return isinstance(node, cst.Call) and is_dict_call(node) and all(arg.keyword is not None for arg in node.args)


def unplain_arg(call: cst.Call) -> cst.Arg | None:
    """The first positional or ``**`` argument of ``call``, None when it has keyword arguments only."""
    return next((arg for arg in call.args if arg.keyword is None), None)


def updated_value(old: cst.BaseExpression, value: object, style: Style) -> cst.BaseExpression:
    """``old`` itself when it already equals ``value``; a merged dict call; else ``value`` rendered."""
    current = maybe_literal(old, style.names)
    if current is not NotLiteralError and same_value(current, value):
        return old
    if isinstance(value, Mapping) and isinstance(old, cst.Call) and is_plain_dict(old):
        return merge_call(old, value, style)
    return expression(render_like(value, old, style.quote))


def _key(item: _layout.Item) -> str:
    return cst.ensure_type(item.arg.keyword, cst.Name).value


def merge_call(
    call: cst.Call,
    new: Mapping[str, object],
    style: Style,
    *,
    drop_missing: bool = True,
    delete_first: bool = False,
    indent: str | None = None,
) -> cst.Call:
    """``call`` with the keys of ``new``: existing keys keep their order (and text when equal), keys
    not in ``new`` are dropped when ``drop_missing`` (``_delete_`` never is), a new key goes right after
    the key that precedes it in ``new`` (see ``_insert_position``), and ``delete_first`` puts
    ``_delete_=True`` first. Returns ``call`` itself when nothing changes (comments stay: a caller that
    knows they describe the old values drops them, ``_layout.without_stale_comments``).
    ``indent`` lays out a new dict value of a new key over several lines (see ``render``).
    Raises ``UnplainDictError`` when ``call`` has a positional or ``**`` argument."""
    unplain = unplain_arg(call)
    if unplain is not None:
        raise UnplainDictError(unplain)
    frame, items = _layout.decompose(call)
    kept: list[_layout.Item] = []
    changed = False
    for item in items:
        key = _key(item)
        if key != "_delete_" and key not in new:
            changed = changed or drop_missing
            if not drop_missing:
                kept.append(item)
            continue
        if key == "_delete_":
            kept.append(item)
            continue
        value = updated_value(item.arg.value, new[key], style)
        if value is item.arg.value:
            kept.append(item)
            continue
        changed = True
        kept.append(_layout.with_value(item, value))
    present = {_key(item) for item in items}
    if delete_first and "_delete_" not in present:
        kept.insert(0, _layout.new_item("_delete_", cst.Name("True")))
        changed = True
    previous = None
    for key, new_value in new.items():
        if key not in present:
            rendered = render_like(new_value, None, style.quote, indent, trailing=style.trailing_comma)
            item = _layout.new_item(key, expression(rendered))
            kept.insert(_insert_position(kept, previous, drop_missing), item)
            changed = True
        previous = key
    return _layout.assemble(call, frame, kept) if changed else call


def _insert_position(items: list[_layout.Item], previous: str | None, whole: bool) -> int:
    """Right after ``previous`` (the key before it in the new mapping), so new keys read in the new
    mapping's order while the existing keys keep theirs; with no such key, first (after ``_delete_``)
    when the mapping is the ``whole`` new value, else last (a partial update appends)."""
    keys = [_key(item) for item in items]
    if previous is not None and previous in keys:
        return keys.index(previous) + 1
    if not whole:
        return len(keys)
    return 1 if keys[:1] == ["_delete_"] else 0
