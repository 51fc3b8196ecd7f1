"""Write an override into a config the way mmengine merges a config into its ``_base_``: a mapping merges
into the file's ``dict(...)`` key by key (recursively), anything else (a list, a scalar, ``None``, a
mapping with ``_delete_``) replaces the value. Keys the file does not set are added in its layout; a
top-level name it does not assign gets a statement of its own at the end.

The override says what the merged config must hold; the file's text changes only where it differs:
values that are already equal keep their text and comments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import libcst as cst

from codemods import _config, _layout
from codemods._literal import NotLiteralError, code_of, expression, maybe_literal, render, render_like
from codemods._merge import Style, UnplainDictError, is_plain_dict, merge_call
from otxgen.facts.values import same_value

_DELETE = "_delete_"


@dataclass(frozen=True)
class Replace:
    """An override value written whole over the file's own (no merge), without ``_delete_``: for a key
    no base defines, where mmengine would pass ``_delete_`` on to the constructor."""

    value: object


@dataclass(frozen=True)
class Drop:
    """An override whose ``value`` is what the ``_base_`` chain alone gives: a file that sets the key
    to something else loses its setting (so a swap back to the base's backbone leaves no copy of the
    base behind); a file that already says ``value`` keeps its text."""

    value: object


def without_drops(value: object) -> object:
    """``value`` with every ``Drop`` left out (what a file that does not set the keys must say)."""
    if isinstance(value, Mapping):
        return {key: without_drops(item) for key, item in value.items() if not isinstance(item, Drop)}
    return value


def _kept(value: object) -> object:
    """What a commented setting says instead of going: the base's value, whole (a mapping replaces the
    file's, so no key of the old value stays beside the base's)."""
    if isinstance(value, Drop):
        return Replace(value.value) if isinstance(value.value, Mapping) else value.value
    return value


def _undropped(value: object) -> object:
    """``value`` with each ``Drop`` written as the base's value it stands for."""
    if isinstance(value, Drop):
        return value.value
    if isinstance(value, Mapping):
        return {key: _undropped(item) for key, item in value.items()}
    return value


def _merges(value: object) -> bool:
    """A mapping without ``_delete_`` merges into the file's dict; anything else replaces."""
    return isinstance(value, Mapping) and _DELETE not in value


def apply_overrides_in_module(module: cst.Module, overrides: Mapping[str, object], style: Style) -> cst.Module:
    """``module`` with every top-level name of ``overrides`` merged in (see the module docstring).
    Raises ``CodemodError`` at the position of a value the override must go through but that is not a
    ``dict(...)`` (a name, a call, a ``{...}`` display): its meaning would be lost."""
    for name, value in overrides.items():
        assign = _config.assigned(module, name)
        if assign is None:
            plain = value.value if isinstance(value, Replace) else without_drops(value)
            if not isinstance(value, Drop) and not _empty(plain):
                module = _config.append_statement(module, f"{name} = {_rendered(plain, style)}\n")
            continue
        if isinstance(value, Drop):
            if same_value(maybe_literal(assign.value, style.names), value.value):
                continue
            if not _config.has_comments(module, name):
                module = _config.remove_statement(module, name)
                continue
            value = _kept(value)  # its comments say something: the statement stays, with the base's value
        new = _overlay(module, assign.value, value, style, (name,))
        if new is not assign.value:
            if _empty_dict(new):  # every key it set is the base's again: the statement says nothing
                module = _config.remove_statement(module, name)
            else:
                module = _config.replace_at(module, (name,), new)
    return module


def _empty(value: object) -> bool:
    return isinstance(value, Mapping) and all(_empty(item) for item in value.values())


def _empty_dict(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Call) and is_plain_dict(node) and not node.args


def _rendered(value: object, style: Style, indent: str | None = " " * 4) -> str:
    """A new value: a one-key mapping on one line with its value laid out (``dict(neck=[\n    dict(...),
    ...])``), a larger one a key a line; with ``indent`` None (a value inside a statement, whose depth is
    the wrapper's to know: ``codemods._wrap``), all on one line."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, item),) = value.items()
        return f"dict({key}={render(item, style.quote, indent, trailing=style.trailing_comma)})"
    return render(value, style.quote, indent if isinstance(value, Mapping) else None, trailing=style.trailing_comma)


def _overlay(
    module: cst.Module, node: cst.BaseExpression, value: object, style: Style, path: tuple[str, ...]
) -> cst.BaseExpression:
    if isinstance(value, Replace):
        return expression(render_like(value.value, node, style.quote))
    if not _merges(value):
        current = maybe_literal(node, style.names)
        if current is not NotLiteralError and same_value(current, value):
            return node
        if isinstance(value, list) and isinstance(node, (cst.List, cst.Tuple)):
            return _overlay_list(module, node, value, style, path)
        if isinstance(value, list) and isinstance(node, cst.Call) and is_plain_dict(node):
            in_list = _kept_in_list(module, node, value, style, path)
            if in_list is not None:
                return in_list
        return expression(render_like(value, node, style.quote))
    assert isinstance(value, Mapping)
    if _names_a_mapping(node, style) and not any(_merges(item) for item in value.values()):
        kept = without_drops(value)  # a key the name's mapping sets stays the name's
        assert isinstance(kept, Mapping)
        return _over_name(cst.ensure_type(node, cst.Name), kept, style) if kept else node
    if isinstance(node, cst.Dict):
        merged = _overlay_display(module, node, value, style, path)
        if merged is not None:
            return merged
    if not (isinstance(node, cst.Call) and is_plain_dict(node)):
        _refuse_opaque(module, node, path)
        # a literal (None) under a merge: the mapping replaces it, and merges over what the bases give
        return expression(_rendered(without_drops(value), style, None))
    return _overlay_call(module, node, value, style, path)


def _overlay_display(
    module: cst.Module, node: cst.Dict, value: Mapping[str, object], style: Style, path: tuple[str, ...]
) -> cst.Dict | None:
    """A merge into a ``{...}`` display of string keys (mmdet's ``paramwise_cfg={'num_layers': 6, ...}``, a
    user's ``model = {...}``), its layout kept: the values of keys it holds changed, new keys added after
    its last one as its items are laid out; None where the merge would remove a key, or a key is not a
    string (such a display is refused)."""
    elements = list(node.elements)
    held: dict[str, int] = {}
    for position, element in enumerate(elements):
        key = maybe_literal(element.key, style.names) if isinstance(element, cst.DictElement) else NotLiteralError
        if not isinstance(key, str):
            return None
        held[key] = position
    added: list[tuple[str, object]] = []
    for key, sub in value.items():
        if key not in held:
            plain = sub.value if isinstance(sub, Replace) else without_drops(sub)
            if not (isinstance(sub, Drop) or _empty(plain)):  # nothing to say where the display says nothing
                added.append((key, plain))
            continue
        if isinstance(sub, Drop):
            return None
        element = cast(cst.DictElement, elements[held[key]])
        new = _overlay(module, element.value, sub, style, (*path, key))
        if new is not element.value:
            elements[held[key]] = element.with_changes(value=new)
    return node.with_changes(elements=_with_added(node, elements, added, style))


def _with_added(
    node: cst.Dict, elements: list[cst.BaseDictElement], added: list[tuple[str, object]], style: Style
) -> list[cst.BaseDictElement]:
    """``elements`` and, after the last, an item per ``(key, value)`` of ``added``, separated as the
    display separates its items (a trailing comma stays the last item's)."""
    if not added:
        return elements
    between: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
    if len(elements) > 1 and isinstance(elements[-2].comma, cst.Comma):
        between = elements[-2].comma.whitespace_after
    elif isinstance(node.lbrace.whitespace_after, cst.ParenthesizedWhitespace):
        between = node.lbrace.whitespace_after
    if isinstance(between, cst.ParenthesizedWhitespace):  # its line break and indentation, not its comment
        between = between.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=())
    last = elements[-1] if elements else None
    closing = last.comma if last is not None and isinstance(last.comma, cst.Comma) else cst.MaybeSentinel.DEFAULT
    items = list(elements)
    if last is not None:
        items[-1] = last.with_changes(comma=cst.Comma(whitespace_after=between))
    for position, (key, value) in enumerate(added):
        final = position == len(added) - 1
        element = cst.DictElement(
            cst.SimpleString(f"{style.quote}{key}{style.quote}"),
            expression(render(value, style.quote)),
            comma=closing if final else cst.Comma(whitespace_after=between),
        )
        items.append(element)
    return items


def _differs(call: cst.Call, key: str, value: object, style: Style) -> bool:
    """Whether ``call`` sets ``key`` to something other than ``value``."""
    arg = _config.keyword_arg(call, key)
    return arg is not None and not same_value(maybe_literal(arg.value, style.names), value)


def _commented(item: _layout.Item) -> bool:
    """Whether an argument carries a comment (above it or at the end of its line): removing it would
    lose what the comment says, so it keeps its place with the base's value instead."""
    leading = item.placement.leading if item.placement is not None else ()
    return (item.trailing is not None and item.trailing.comment is not None) or any(
        line.comment is not None for line in leading
    )


def _key_of(item: _layout.Item) -> str | None:
    return item.arg.keyword.value if item.arg.keyword is not None else None


def _names_a_mapping(node: cst.BaseExpression, style: Style) -> bool:
    """A module-level name whose value is a mapping (not ``None`` and its kin, nor an unknown name)."""
    return isinstance(node, cst.Name) and isinstance(maybe_literal(node, style.names), Mapping)


def _over_name(name: cst.Name, value: Mapping[str, object], style: Style) -> cst.BaseExpression:
    """A merge into a value given by a module-level name (mmseg's ``data_preprocessor=data_preprocessor``):
    ``dict(data_preprocessor, mean=[...])``, a copy with the keys changed, so the name and its other uses
    stay as they are. Only for leaf keys: a nested mapping would replace the name's whole entry."""
    held = maybe_literal(name, style.names)
    changed = {
        k: v for k, v in value.items() if not (isinstance(held, Mapping) and k in held and same_value(held[k], v))
    }
    if not changed:  # the name's mapping says it already (a head written whole keeps its norm_cfg=norm_cfg)
        return name
    keys = ", ".join(f"{key}={render(item, style.quote)}" for key, item in changed.items())
    return expression(f"dict({name.value}, {keys})")


def _overlay_call(
    module: cst.Module, call: cst.Call, value: Mapping[str, object], style: Style, path: tuple[str, ...]
) -> cst.Call:
    leaves: dict[str, object] = {}
    if _config.keyword_arg(call, _DELETE) is not None:  # under _delete_ no base value reaches: write each
        value = cast(Mapping[str, object], _undropped(value))
    drops = {key for key, sub in value.items() if isinstance(sub, Drop) and _differs(call, key, sub.value, style)}
    if drops:
        frame, items = _layout.decompose(call)
        commented = {_key_of(item) for item in items if _key_of(item) in drops and _commented(item)}
        call = _layout.assemble(call, frame, [item for item in items if _key_of(item) not in drops - commented])
        value = {key: _kept(sub) if key in commented else sub for key, sub in value.items()}
    for key, sub in value.items():
        if isinstance(sub, Drop) or (_config.keyword_arg(call, key) is None and _empty(without_drops(sub))):
            continue  # nothing to say where the file says nothing
        arg = _config.keyword_arg(call, key)
        whole = sub.value if isinstance(sub, Replace) else sub
        if isinstance(whole, Mapping) and arg is not None and isinstance(arg.value, (cst.List, cst.Tuple)):
            kept = _kept_from_list(module, arg.value, whole, style, (*path, key))
            if kept is not None:
                call = cst.ensure_type(_config.replaced(call, (key,), kept), cst.Call)
                continue
        if isinstance(sub, Replace):  # merge_call replaces a dict key by key, keeping equal values' text
            leaves[key] = sub.value
            continue
        if arg is None or not (_merges(sub) or isinstance(sub, list)):
            leaves[key] = sub
            continue
        new = _overlay(module, arg.value, sub, style, (*path, key))
        if _empty_dict(new) and not _empty_dict(arg.value):  # all it set is the base's again
            frame, items = _layout.decompose(call)
            if not any(_key_of(item) == key and _commented(item) for item in items):
                call = _layout.assemble(call, frame, [item for item in items if _key_of(item) != key])
                continue
            new = _overlay(module, arg.value, _undropped(sub), style, (*path, key))  # its comment stays
        if new is not arg.value:
            call = cst.ensure_type(_config.replaced(call, (key,), new), cst.Call)
    leaves = {key: without_drops(sub) for key, sub in leaves.items()}
    if not leaves:
        return call
    frame, items = _layout.decompose(call)
    try:
        return merge_call(call, leaves, style, drop_missing=False, indent=_layout.new_line_indent(frame, items))
    except UnplainDictError as error:
        raise _config.error_at(module, error.node, f"{'.'.join(path)} has positional or ** arguments") from error


def _overlay_list(
    module: cst.Module, node: cst.List | cst.Tuple, value: list[object], style: Style, path: tuple[str, ...]
) -> cst.BaseExpression:
    """A list the file defines, element by element when its dicts line up with the override's (the
    file's list is the whole value: mmengine replaces lists), so unchanged elements keep their text."""
    elements = list(node.elements)
    if len(elements) != len(value) or not all(isinstance(v, Mapping) for v in value):
        return expression(render_like(value, node, style.quote))
    changed = False
    for index, (element, item) in enumerate(zip(elements, value, strict=True)):
        old = element.value
        if not (isinstance(old, cst.Call) and is_plain_dict(old)):
            return expression(render(value, style.quote))
        new = _overlay_call(module, old, cast(Mapping[str, object], item), style, (*path, str(index)))
        if new is not old:
            elements[index], changed = element.with_changes(value=new), True
    return node.with_changes(elements=elements) if changed else node


def _kept_from_list(
    module: cst.Module, node: cst.List | cst.Tuple, value: Mapping[str, object], style: Style, path: tuple[str, ...]
) -> cst.BaseExpression | None:
    """The converse of ``_kept_in_list``: a list the file writes out, replaced by one of its dicts (a
    pyramid neck removed from in front of an FPN): that dict's text, merged, one level less indented."""
    whole = {key: item for key, item in value.items() if key != _DELETE}
    calls = [e.value for e in node.elements if isinstance(e.value, cst.Call) and is_plain_dict(e.value)]
    found = [(call, current) for call in calls if isinstance(current := maybe_literal(call, style.names), Mapping)]
    kin = [(call, current) for call, current in found if current.get("type") == whole.get("type")]
    if len(kin) != 1 or not set(kin[0][1]) <= set(whole):
        return None
    call, current = kin[0]
    changed = {
        key: Replace(new) if isinstance(new, Mapping) else new
        for key, new in whole.items()
        if key not in current or not same_value(current[key], new)
    }
    lines = code_of(_overlay_call(module, call, changed, style, path)).split("\n")
    return expression("\n".join([lines[0], *(line[4:] if line.startswith("    ") else line for line in lines[1:])]))


def _kept_in_list(
    module: cst.Module, node: cst.Call, value: list[object], style: Style, path: tuple[str, ...]
) -> cst.BaseExpression | None:
    """A ``dict(...)`` the file writes out that the override puts into a list (a neck put in front of it):
    the list, with the file's dict in its place, merged, so that its comments and layout stay. None where
    no one item of the list is that dict (same type, every key the file sets) with changes."""
    current = maybe_literal(node, style.names)
    if not isinstance(current, Mapping):
        return None
    places = [
        i
        for i, item in enumerate(value)
        if isinstance(item, Mapping) and item.get("type") == current.get("type") and set(current) <= set(item)
    ]
    if len(places) != 1:
        return None
    item = cast(Mapping[str, object], value[places[0]])
    changed = {
        key: Replace(new) if isinstance(new, Mapping) else new
        for key, new in item.items()
        if key not in current or not same_value(current[key], new)
    }
    lines = code_of(_overlay_call(module, node, changed, style, path)).split("\n")
    items = [render(other, style.quote) for other in value]
    if len(lines) == 1:
        items[places[0]] = lines[0]
        return expression("[" + ", ".join(items) + "]")
    first = next(line for line in lines[1:] if line.strip())  # the dict's first key, a step in from its line
    outer = first[: max(0, len(first) - len(first.lstrip()) - 4)]
    items[places[0]] = "\n".join([lines[0], *(f"    {line}" if line.strip() else line for line in lines[1:])])
    inner = outer + "    "
    if style.trailing_comma:
        return expression("[\n" + "".join(f"{inner}{text},\n" for text in items) + outer + "]")
    return expression("[\n" + ",\n".join(inner + text for text in items) + "]")


def _refuse_opaque(module: cst.Module, node: cst.BaseExpression, path: tuple[str, ...]) -> None:
    """A value to merge into that is given by a name, a call or a ``{...}`` display: merging keys into it
    here would change what it means (the name's other readers, the call's other keys). A value replaced
    whole is written over whatever gave it (``in_channels=widths`` becomes the new list; ``widths`` stays
    for whatever else reads it)."""
    if maybe_literal(node) is not NotLiteralError and not isinstance(node, cst.Dict):
        return
    where = ".".join(path)
    spread = [arg for arg in node.args if arg.star] if isinstance(node, cst.Call) else []
    if spread:
        name = code_of(spread[0].value)
        message = (
            f"{where} spreads {spread[0].star}{name} into its dict(...), so otxgen cannot see every key it sets: "
            f"write the keys of {name} inline so that otxgen can update them"
        )
        raise _config.error_at(module, spread[0], message)
    code = code_of(node)
    shown = code if len(code) <= 40 else code[:37] + "..."
    message = f"{where} is {shown!r}, not dict(...): write it inline as dict(...) so that otxgen can update it"
    raise _config.error_at(module, node, message)
