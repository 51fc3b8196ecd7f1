"""Re-lay out the arguments of a call after keys were dropped, added or moved, keeping comments and style.

libcst stores the whitespace between two arguments on the first one's comma. Here each argument
instead owns what belongs to it: the comment lines above it and the comment at the end of its line;
the call owns the comment after ``(`` and the lines before ``)``. After the argument list changes,
the gaps are rebuilt from those parts, and a new argument copies the placement of the nearest sibling
(same line, or its own line with the sibling's indentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import libcst as cst

from codemods._config import assigned_name, is_dict_call
from codemods._literal import code_of

_Gap = cst.BaseParenthesizableWhitespace


@dataclass(frozen=True)
class Placement:
    """Where an argument starts: on a new line (``indent`` is the line's indentation) or inline after the
    previous one (``indent`` is the whitespace before it); ``leading`` holds the lines above it."""

    newline: bool
    indent: str
    leading: tuple[cst.EmptyLine, ...] = ()


@dataclass(frozen=True)
class Item:
    """One argument with the layout it owns; ``placement`` None means new (placed like a sibling)."""

    arg: cst.Arg
    placement: Placement | None = None
    trailing: cst.TrailingWhitespace | None = None
    first: bool = False


@dataclass(frozen=True)
class Frame:
    """The call's own layout: after ``(``, before ``)``, and whether the last argument had a comma."""

    open_trailing: cst.TrailingWhitespace | None
    opening: Placement
    closing: Placement
    trailing_comma: cst.Comma | None


def _split(gap: _Gap) -> tuple[cst.TrailingWhitespace | None, Placement]:
    if isinstance(gap, cst.ParenthesizedWhitespace):
        return gap.first_line, Placement(True, gap.last_line.value, tuple(gap.empty_lines))
    return None, Placement(False, cst.ensure_type(gap, cst.SimpleWhitespace).value)


def decompose(call: cst.Call) -> tuple[Frame, list[Item]]:
    """Split a call's arguments and the whitespace between them into owned parts."""
    args = list(call.args)
    open_trailing, opening = _split(call.whitespace_before_args)
    if not args:
        return Frame(None, Placement(False, ""), opening, None), []
    gaps: list[_Gap] = [cst.ensure_type(arg.comma, cst.Comma).whitespace_after for arg in args[:-1]]
    last = args[-1]
    comma = last.comma if isinstance(last.comma, cst.Comma) else None
    gaps.append(comma.whitespace_after if comma else last.whitespace_after_arg)
    items: list[Item] = []
    placement = opening
    for index, (arg, gap) in enumerate(zip(args, gaps, strict=True)):
        trailing, next_placement = _split(gap)
        after_arg = arg.whitespace_after_arg if comma or index < len(args) - 1 else cst.SimpleWhitespace("")
        stripped = arg.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=after_arg)
        items.append(Item(stripped, placement, trailing, first=index == 0))
        placement = next_placement
    return Frame(open_trailing, opening, placement, comma), items


def _has_comment(trailing: cst.TrailingWhitespace | None) -> bool:
    return trailing is not None and trailing.comment is not None


def _newline_indent(frame: Frame, items: Sequence[Item]) -> str:
    for item in items:
        if item.placement is not None and item.placement.newline:
            return item.placement.indent
    return frame.closing.indent + "    " if frame.closing.newline else "    "


def _sibling(frame: Frame, items: Sequence[Item]) -> Placement:
    """How a new argument is placed: like the last old argument after the first, else by the frame."""
    for item in reversed(items):
        if item.placement is not None and not item.first:
            return Placement(item.placement.newline, item.placement.indent or " ")
    if frame.opening.newline:
        return Placement(True, frame.opening.indent)
    return Placement(False, " ")


def _placement_at(position: int, item: Item, frame: Frame, sibling: Placement) -> Placement:
    own = item.placement
    if position == 0:
        if item.first and own is not None:
            return own
        if frame.opening.newline or (own is not None and own.leading):
            indent = frame.opening.indent if frame.opening.newline else sibling.indent
            return Placement(True, indent, own.leading if own else ())
        return frame.opening
    if own is None or (item.first and not own.newline):
        return sibling
    if not own.newline and not own.indent:
        return sibling
    return own


def _gap(trailing: cst.TrailingWhitespace | None, placement: Placement, newline_indent: str) -> _Gap:
    if not placement.newline and not _has_comment(trailing) and not placement.leading:
        return cst.SimpleWhitespace(placement.indent)
    indent = placement.indent if placement.newline else newline_indent
    return cst.ParenthesizedWhitespace(
        first_line=trailing or cst.TrailingWhitespace(),
        empty_lines=list(placement.leading),
        indent=True,
        last_line=cst.SimpleWhitespace(indent),
    )


def assemble(call: cst.Call, frame: Frame, items: Sequence[Item]) -> cst.Call:
    """Rebuild ``call`` with ``items`` as its arguments, gaps rebuilt from the owned parts."""
    if not items:
        return call.with_changes(args=[], whitespace_before_args=cst.SimpleWhitespace(""))
    sibling = _sibling(frame, items)
    newline_indent = _newline_indent(frame, items)
    placements = [_placement_at(pos, item, frame, sibling) for pos, item in enumerate(items)]
    args: list[cst.Arg] = []
    for pos, item in enumerate(items[:-1]):
        gap = _gap(item.trailing, placements[pos + 1], newline_indent)
        before = cst.SimpleWhitespace("")
        args.append(item.arg.with_changes(comma=cst.Comma(whitespace_before=before, whitespace_after=gap)))
    last = items[-1]
    closing = _gap(last.trailing, frame.closing, newline_indent)
    if frame.trailing_comma is not None:
        args.append(last.arg.with_changes(comma=frame.trailing_comma.with_changes(whitespace_after=closing)))
    else:
        args.append(last.arg.with_changes(whitespace_after_arg=closing))
    opening = _gap(frame.open_trailing, placements[0], newline_indent)
    return call.with_changes(args=args, whitespace_before_args=opening)


def new_item(keyword: str, value: cst.BaseExpression) -> Item:
    """A new ``keyword=value`` argument, to be placed like its siblings."""
    arg = cst.Arg(
        value=value,
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    return Item(arg)


def with_value(item: Item, value: cst.BaseExpression) -> Item:
    """The same argument, layout and comments with a new value."""
    return replace(item, arg=item.arg.with_changes(value=value))


def without_comments(item: Item) -> Item:
    """The same argument without the comments it owns: the one at the end of its line and the comment lines
    directly above it (blank lines, and comment lines a blank line away from it, stay)."""
    trailing = item.trailing
    if trailing is not None and trailing.comment is not None:
        trailing = trailing.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)
    placement = item.placement
    if placement is not None:
        leading = list(placement.leading)
        while leading and leading[-1].comment is not None:
            leading.pop()
        placement = replace(placement, leading=tuple(leading))
    return replace(item, placement=placement, trailing=trailing)


def new_line_indent(frame: Frame, items: Sequence[Item], item: Item | None = None) -> str | None:
    """The indentation for the keys of a multi-line dict rendered as ``item``'s value (a new argument when
    None), or None to keep it on one line because its siblings share a line."""
    placement = item.placement if item is not None and item.placement is not None else _sibling(frame, items)
    if not placement.newline:
        return None
    return placement.indent + "    "


def comments_kept_on_their_line(original: cst.Module, module: cst.Module) -> cst.Module:
    """``module`` where a comment that ended a ``NAME = dict(...)`` statement on the line of its last
    argument (``    bbox_head=dict(num_classes=3))  # three classes``) stays on that line when arguments
    were added after that one: after its comma, where the line now ends, not after the new last line."""
    before = {name: statement for statement in original.body if (name := assigned_name(statement)) is not None}
    body = list(module.body)
    for position, statement in enumerate(body):
        old = before.get(assigned_name(statement) or "")
        if old is None or statement is old:
            continue
        moved = _comment_moved(
            cst.ensure_type(old, cst.SimpleStatementLine), cst.ensure_type(statement, cst.SimpleStatementLine)
        )
        if moved is not None:
            body[position] = moved
    return module.with_changes(body=body)


def _comment_moved(old: cst.SimpleStatementLine, new: cst.SimpleStatementLine) -> cst.SimpleStatementLine | None:
    comment = old.trailing_whitespace.comment
    old_call, new_call = (cst.ensure_type(s.body[0], cst.Assign).value for s in (old, new))
    if comment is None or not isinstance(old_call, cst.Call) or not isinstance(new_call, cst.Call) or not old_call.args:
        return None
    frame, items = decompose(old_call)
    last = items[-1].arg.keyword
    if frame.closing.newline or last is None:  # ``)`` on a line of its own: the comment is the closer's
        return None
    args = list(new_call.args)
    at = next(
        (i for i, arg in enumerate(args[:-1]) if arg.keyword is not None and arg.keyword.value == last.value), None
    )
    if at is None:
        return None
    comma = args[at].comma
    gap = comma.whitespace_after if isinstance(comma, cst.Comma) else None
    if not isinstance(gap, cst.ParenthesizedWhitespace) or gap.first_line.comment is not None:
        return None
    line = gap.first_line.with_changes(whitespace=old.trailing_whitespace.whitespace, comment=comment)
    args[at] = args[at].with_changes(
        comma=cst.ensure_type(comma, cst.Comma).with_changes(whitespace_after=gap.with_changes(first_line=line))
    )
    assign = cst.ensure_type(new.body[0], cst.Assign).with_changes(value=new_call.with_changes(args=args))
    trailing = new.trailing_whitespace.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)
    return new.with_changes(body=[assign], trailing_whitespace=trailing)


def without_stale_comments(old: cst.Call, new: cst.Call) -> cst.Call:
    """``new`` (``old``'s ``dict(...)`` rewritten) without the comments of the arguments whose value
    changed, which described the old value: the one at the end of their line and the comment lines right
    above them (``without_comments``); inside a changed nested ``dict(...)``, the same key by key.
    Arguments whose text is the same keep theirs, and so do new ones (they have none)."""
    before = {arg.keyword.value: arg.value for arg in old.args if arg.keyword is not None}
    frame, items = decompose(new)
    kept: list[Item] = []
    for item in items:
        was = before.get(item.arg.keyword.value) if item.arg.keyword is not None else None
        value = item.arg.value
        if was is None or value is was or code_of(value) == code_of(was):
            kept.append(item)
            continue
        if isinstance(was, cst.Call) and isinstance(value, cst.Call) and is_dict_call(was) and is_dict_call(value):
            value = without_stale_comments(was, value)
        kept.append(without_comments(with_value(item, value)))
    return assemble(new, frame, kept) if kept != items else new
