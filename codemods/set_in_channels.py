"""Make the neck or the heads that read the backbone's feature maps expect the new backbone's channels."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodCommand, CodemodContext

from codemods import _config, _layout
from codemods._literal import NotLiteralError, maybe_literal, render, same_value
from codemods._merge import Style, UnplainDictError, is_plain_dict, merge_call
from codemods.errors import CodemodError
from codemods.replace_backbone import backbone_path, is_inherited

_SEG_HEADS = ("decode_head", "auxiliary_head")
_Pair = tuple[_config.Path, cst.Call]  # where in the host (``decode_head.1``) and the new dict


class _HeadError(Exception):
    """A head the codemod cannot update without guessing; turned into a ``CodemodError`` with a position."""

    def __init__(self, node: cst.CSTNode, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def _is_gap(neck: cst.Call, style: Style) -> bool:
    return _is_gap_type(maybe_literal(_config.dict_value(neck, "type"), style.names))


def _is_gap_type(neck_type: object) -> bool:
    return isinstance(neck_type, str) and neck_type.split(".")[-1] in ("GlobalAveragePooling", "GAP")


def _may_add(call: cst.Call, inherited: bool = False) -> bool:
    """A key the file does not set may be added to a dict that overrides an inherited one: known to be
    inherited, or without ``type`` (so the type comes from a base); never under ``_delete_``."""
    overrides = inherited or _config.keyword_arg(call, "type") is None
    return overrides and _config.keyword_arg(call, "_delete_") is None


def _neck_value(neck: cst.Call, channels: list[int], style: Style) -> object:
    """An int ``in_channels`` (YOLOF's DilatedEncoder, CenterNet's neck) reads the last level only."""
    current = maybe_literal(_config.dict_value(neck, "in_channels"), style.names)
    return channels[-1] if isinstance(current, int) else list(channels)


def _neck_override(channels: list[int], base_neck: Sequence[object] | None) -> object:
    """What a file without a neck writes over an inherited one: ``dict(in_channels=...)``, merged into the
    base's dict by mmengine; or, over an inherited LIST of necks (which mmengine replaces and will not
    merge a dict into), the whole list with the first neck's channels set. None when nothing is needed."""
    if base_neck is None:
        return {"in_channels": list(channels)}
    necks = list(base_neck)
    first = necks[0] if necks else None
    if not isinstance(first, dict) or _is_gap_type(first.get("type")):
        return None
    current = first.get("in_channels")
    new = channels[-1] if isinstance(current, int) and not isinstance(current, bool) else list(channels)
    if same_value(current, new):
        return None
    return [{**first, "in_channels": new}, *necks[1:]]


def _set_neck(neck: cst.Call, channels: list[int], style: Style, inherited: bool) -> cst.Call:
    if _config.keyword_arg(neck, "in_channels") is None and not _may_add(neck, inherited):
        return neck
    return merge_call(neck, {"in_channels": _neck_value(neck, channels, style)}, style, drop_missing=False)


def _valid(index: object, count: int) -> bool:
    if isinstance(index, (list, tuple)):
        return bool(index) and all(_valid(i, count) for i in index)
    return isinstance(index, int) and not isinstance(index, bool) and -count <= index < count


def _levels(old_index: object, old_channels: object, count: int) -> int | list[int]:
    """The levels a head keeps reading: its own ``in_index`` when the new backbone has those levels,
    else the last level (an int head) or all levels (a list head). mmseg's default ``in_index`` is -1."""
    if isinstance(old_index, (list, tuple)) and _valid(old_index, count):
        return list(old_index)
    if isinstance(old_index, int) and _valid(old_index, count):
        return old_index
    wants_list = isinstance(old_index, (list, tuple)) or isinstance(old_channels, (list, tuple))
    if old_index is NotLiteralError and not wants_list:
        return -1
    return list(range(count)) if wants_list else count - 1


def _head_updates(head: cst.Call, channels: list[int], in_index: list[int] | None, style: Style) -> dict[str, object]:
    old_channels = maybe_literal(_config.dict_value(head, "in_channels"), style.names)
    old_index = maybe_literal(_config.dict_value(head, "in_index"), style.names)
    has_channels = _config.keyword_arg(head, "in_channels") is not None
    if not has_channels and in_index is None:
        if _may_add(head):
            raise _HeadError(head, "in_channels of this head comes from _base_; pass in_index to choose levels")
        return {}
    levels: int | list[int]
    if in_index is not None:
        single = len(in_index) == 1 and not isinstance(old_channels, (list, tuple))
        levels = in_index[0] if single else list(in_index)
    else:
        levels = _levels(old_index, old_channels, len(channels))
    picked: object = channels[levels] if isinstance(levels, int) else [channels[i] for i in levels]
    updates: dict[str, object] = {"in_channels": picked}
    if levels != -1 or _config.keyword_arg(head, "in_index") is not None:
        updates["in_index"] = levels
    if _config.keyword_arg(head, "c1_in_channels") is not None:
        updates["c1_in_channels"] = channels[0]  # DeepLabV3+ reads the first level as its low-level input
    return updates


def _seg_heads(host: cst.Call, channels: list[int], in_index: list[int] | None, style: Style) -> list[_Pair]:
    pairs: list[_Pair] = []
    for key in _SEG_HEADS:
        node = _config.dict_value(host, key)
        for position, head in enumerate(_config.dicts_in(node) if node is not None else []):
            levels = in_index if key == "decode_head" else None
            updates = _head_updates(head, channels, levels, style)
            if updates:
                pairs.append(((key, str(position)), merge_call(head, updates, style, drop_missing=False)))
    return pairs


def _cls_head(host: cst.Call, channels: list[int], style: Style) -> list[_Pair]:
    node = _config.dict_value(host, "head")
    heads = _config.dicts_in(node) if node is not None else []
    if not heads or (_config.keyword_arg(heads[0], "in_channels") is None and not _may_add(heads[0])):
        return []
    return [(("head", "0"), merge_call(heads[0], {"in_channels": channels[-1]}, style, drop_missing=False))]


def _update_host(
    host: cst.Call,
    channels: list[int],
    in_index: list[int] | None,
    style: Style,
    neck_inherited: bool,
    base_neck: Sequence[object] | None,
) -> cst.Call:
    neck_node = _config.dict_value(host, "neck")
    necks = _config.dicts_in(neck_node) if neck_node is not None else []
    if necks and not _is_gap(necks[0], style):
        return _apply(host, [(("neck", "0"), _set_neck(necks[0], channels, style, neck_inherited))])
    if neck_node is not None and not necks:
        return host  # a neck given by reference (``neck=_base_.neck``) is not ours to edit
    has_heads = any(_config.keyword_arg(host, key) is not None for key in (*_SEG_HEADS, "head"))
    if not has_heads and neck_node is None and neck_inherited:
        override = _neck_override(channels, base_neck)
        if override is None:
            return host
        frame, items = _layout.decompose(host)
        indent = _layout.new_line_indent(frame, items)
        return merge_call(host, {"neck": override}, style, drop_missing=False, indent=indent)
    pairs = _seg_heads(host, channels, in_index, style) + _cls_head(host, channels, style)
    return _apply(host, pairs)


def _apply(host: cst.Call, pairs: list[_Pair]) -> cst.Call:
    for path, new in pairs:
        if _config.resolve_in(host, path) is not new:
            host = cst.ensure_type(_config.replaced(host, path, new), cst.Call)
    return host


def _check(channels: Sequence[int], in_index: Sequence[int] | None) -> tuple[list[int], list[int] | None]:
    if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
        raise CodemodError(f"channels must be a non-empty list of positive ints, got {channels!r}")
    if in_index is not None and not _valid(list(in_index), len(channels)):
        raise CodemodError(f"in_index {in_index!r} is out of range for {len(channels)} feature levels")
    return list(channels), (list(in_index) if in_index is not None else None)


def set_in_channels_in_module(
    module: cst.Module,
    channels: Sequence[int],
    *,
    in_index: Sequence[int] | None = None,
    target: str | None = None,
    inherited: bool | None = None,
    base_neck: Sequence[object] | None = None,
    style: Style | None = None,
) -> cst.Module:
    """The CST-level rewrite behind ``set_in_channels`` (``style`` defaults to the module's own)."""
    levels, index = _check(channels, in_index)
    style = style or Style.of(module)
    host_path = backbone_path(module, target)[:-1]
    neck_inherited = is_inherited(module, (*host_path, "neck"), inherited)
    host = _config.resolve(module, host_path)
    if host is None and neck_inherited and host_path == ("model",):
        override = _neck_override(levels, base_neck)
        if override is None:
            return module
        neck = render(override, style.quote, " " * 4 if isinstance(override, list) else None)
        return _config.append_statement(module, f"model = dict(neck={neck})\n")
    if not isinstance(host, cst.Call) or not is_plain_dict(host):
        raise _config.error_at(module, host, f"no {'.'.join(host_path)} = dict(...) to set in_channels in")
    try:
        new = _update_host(host, levels, index, style, neck_inherited, base_neck)
    except _HeadError as exc:
        raise _config.error_at(module, exc.node, exc.message) from exc
    except UnplainDictError as exc:
        message = "cannot set in_channels in a dict(...) with positional or ** arguments"
        raise _config.error_at(module, exc.node, message) from exc
    return module if new is host else _config.replace_at(module, host_path, new)


def set_in_channels(
    source: str,
    channels: list[int],
    *,
    in_index: list[int] | None = None,
    target: str | None = None,
    inherited: bool | None = None,
    base_neck: list[object] | None = None,
) -> str:
    """Set the input channels of whatever reads the backbone's feature maps to ``channels`` (one per level).

    - A neck with ``in_channels`` (FPN, PAFPN, YOLOXPAFPN, ChannelMapper, SSDNeck...; the first of a list
      of necks) gets ``channels``, or the last level when its ``in_channels`` is an int.
    - Without a neck (or with a global-average-pooling neck, which needs nothing), mmseg's
      ``decode_head`` / ``auxiliary_head`` keep reading their ``in_index`` levels when the backbone has
      them (else the last level for an int head, all levels for a list head) and get those levels'
      channels; ``in_index`` given here overrides the decode head's (one level -> ints). A classification
      ``head`` gets the last level's channels.
    - A file with no neck and no head whose ``_base_`` defines the neck (``inherited``, from
      ``codemods.inheritance.inherits(source, 'model.neck', read)``; when None, guessed from the
      ``_base_`` entries' names) gets the smallest override ``neck=dict(in_channels=...)``. A neck or head
      dict without ``type`` overrides an inherited one, so a missing ``in_channels`` is added to it.
      When the inherited neck is a LIST (``base_neck``, from ``codemods.inheritance.inherited_list``),
      mmengine cannot merge a dict into it: the override is the whole list, first neck's channels set.

    Values that are already equal keep their text. ``target`` is the backbone's dotted path, as for
    ``replace_backbone``; the neck and heads are its siblings.

    Before::

        model = dict(
            backbone=dict(type='RegNet', arch='regnetx_3.2gf'),
            neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256))

    ``set_in_channels(source, [96, 192, 432, 1008])``::

        model = dict(
            backbone=dict(type='RegNet', arch='regnetx_3.2gf'),
            neck=dict(type='FPN', in_channels=[96, 192, 432, 1008], out_channels=256))
    """
    module, style = _config.parse(source), Style.from_source(source)
    rewritten = set_in_channels_in_module(
        module, channels, in_index=in_index, target=target, inherited=inherited, base_neck=base_neck, style=style
    )
    return rewritten.code


def parse_ints(text: str) -> list[int]:
    """``64,128,256`` (or ``[64, 128, 256]``) -> ``[64, 128, 256]``."""
    try:
        return [int(part) for part in text.strip("[]() ").split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {text}") from exc


class SetInChannelsCommand(CodemodCommand):
    """``python -m libcst.tool codemod -x codemods.set_in_channels.SetInChannelsCommand --no-format
    --channels 96,192,432,1008 configs/``"""

    DESCRIPTION: str = "Set neck / decode_head / head in_channels of mmengine configs to the backbone's channels."

    def __init__(
        self, context: CodemodContext, channels: list[int], in_index: list[int] | None = None, target: str | None = None
    ) -> None:
        super().__init__(context)
        self.channels, self.in_index, self.target = channels, in_index, target

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--channels", type=parse_ints, required=True, help="e.g. 64,128,256,512")
        arg_parser.add_argument(
            "--in-index",
            dest="in_index",
            type=parse_ints,
            default=None,
            help="levels the decode head reads, e.g. 0,1,2,3",
        )
        arg_parser.add_argument("--target", default=None, help="dotted path of the backbone, e.g. model.backbone")

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return set_in_channels_in_module(tree, self.channels, in_index=self.in_index, target=self.target)
