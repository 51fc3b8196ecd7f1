"""Make the neck or the heads that read the backbone's feature maps expect the new backbone's channels."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from codemods import _config
from codemods._literal import NotLiteralError, maybe_literal
from codemods._merge import Style, is_plain_dict, unplain_arg
from codemods.errors import CodemodError
from codemods.overrides import apply_overrides_in_module
from codemods.replace_backbone import backbone_path, is_inherited
from otxgen.facts.consumers import DIRECT_DET_HEAD_KEYS, SEG_HEAD_KEYS, ConsumerError, consumer_overrides, valid_index

_CONSUMER_KEYS = ("neck", *SEG_HEAD_KEYS, "head", *DIRECT_DET_HEAD_KEYS)


def _file_model(
    module: cst.Module,
    host: cst.Call,
    style: Style,
    neck_inherited: bool,
    base_neck: object,
    in_index: object,
) -> dict[str, object]:
    """The consumers as this file alone gives them (literals with the file's module-level names), with
    the inherited neck filled in when the caller knows it: what ``consumers.consumer_overrides`` plans on."""
    model: dict[str, object] = {}
    for key in _CONSUMER_KEYS:
        node = _config.dict_value(host, key)
        if node is None:
            continue
        for head in _config.dicts_in(node) if key in SEG_HEAD_KEYS else ():
            if in_index is None or key != "decode_head":
                _refuse_unknown_head(module, head)
        value = _planned_value(module, node, style)
        if value is None:
            if key == "neck":
                return {}  # a neck given by reference (``neck=_base_.neck``) is not ours to edit
            continue
        model[key] = _overriding(value, key, neck_inherited)
    if "neck" not in model and neck_inherited and not any(k in model for k in (*SEG_HEAD_KEYS, "head")):
        model["neck"] = list(base_neck) if isinstance(base_neck, (list, tuple)) else {"in_channels": None}
    return model


# The keys of a consumer that the planner reads; the rest of a consumer may be any expression.
_PLANNED_KEYS = ("type", "in_channels", "in_index", "c1_in_channels", "_delete_")


def _planned_value(module: cst.Module, node: cst.BaseExpression, style: Style) -> object:
    """A consumer dict (or list of dicts) reduced to the keys the planner reads, as literals; None for
    a value given by reference. A planned key that is not a literal is an error at its position."""
    calls = _config.dicts_in(node)
    if not calls:
        return None
    reduced = []
    for call in calls:
        if not is_plain_dict(call):
            message = "cannot set in_channels in a dict(...) with positional or ** arguments"
            raise _config.error_at(module, unplain_arg(call), message)
        item: dict[str, object] = {}
        for key in _PLANNED_KEYS:
            value_node = _config.dict_value(call, key)
            value = maybe_literal(value_node, style.names) if value_node is not None else None
            if value is NotLiteralError:
                raise _config.error_at(module, value_node, f"{key} is not a literal the codemod can read")
            if value_node is not None:
                item[key] = value
        reduced.append(item)
    return reduced[0] if _config.is_dict_call(node) else reduced


def _overriding(value: object, key: str, neck_inherited: bool) -> object:
    """A neck or classifier head dict that overrides an inherited one (no ``type``, or the neck is known
    to be inherited) takes ``in_channels`` even when this file does not say it: mark it to be set."""
    if not isinstance(value, dict) or "in_channels" in value or "_delete_" in value or key not in ("neck", "head"):
        return value
    overrides = "type" not in value or (key == "neck" and neck_inherited)
    return {**value, "in_channels": None} if overrides else value


def _refuse_unknown_head(module: cst.Module, head: cst.Call) -> None:
    """Without the base files, a head that overrides an inherited one (no ``type``) and does not say its
    ``in_channels`` cannot be planned: which levels it reads is in the base."""
    overrides = _config.keyword_arg(head, "type") is None and _config.keyword_arg(head, "_delete_") is None
    if overrides and _config.keyword_arg(head, "in_channels") is None:
        message = "in_channels of this head comes from _base_; pass in_index to choose levels"
        raise _config.error_at(module, head, message)


def _check(channels: Sequence[int], in_index: Sequence[int] | None) -> tuple[list[int], list[int] | None]:
    if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
        raise CodemodError(f"channels must be a non-empty list of positive ints, got {channels!r}")
    if in_index is not None and not valid_index(list(in_index), len(channels)):
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
    """The CST-level rewrite behind ``set_in_channels`` (``style`` defaults to the module's own): the
    consumers this file gives are planned by ``otxgen.facts.consumers`` and written by ``codemods.overrides``."""
    levels, index = _check(channels, in_index)
    style = style or Style.of(module)
    host_path = backbone_path(module, target)[:-1]
    neck_inherited = is_inherited(module, (*host_path, "neck"), inherited)
    host = _config.resolve(module, host_path)
    if host is None and neck_inherited and host_path == ("model",):
        model: dict[str, object] = {"neck": list(base_neck) if base_neck is not None else {"in_channels": None}}
    elif isinstance(host, cst.Call) and is_plain_dict(host):
        model = _file_model(module, host, style, neck_inherited, base_neck, index)
    else:
        raise _config.error_at(module, host, f"no {'.'.join(host_path)} = dict(...) to set in_channels in")
    try:
        override = consumer_overrides(model, levels, index)
    except ConsumerError as exc:
        raise _config.error_at(module, _config.resolve(module, (*host_path, str(exc.path[0]))), exc.message) from exc
    if not override:
        return module
    nested: dict[str, object] = override
    for step in reversed(host_path[1:]):
        nested = {step: nested}
    return apply_overrides_in_module(module, {host_path[0]: nested}, style)


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
      the caller, who read the base files; when None, guessed from the
      ``_base_`` entries' names) gets the smallest override ``neck=dict(in_channels=...)``. A neck or head
      dict without ``type`` overrides an inherited one, so a missing ``in_channels`` is added to it.
      When the inherited neck is a LIST (``base_neck``, from the caller),
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
    """``64,128,256`` (or ``[64, 128, 256]``) -> ``[64, 128, 256]``, for the codemod's command line."""
    import argparse

    try:
        return [int(part) for part in text.strip("[]() ").split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {text}") from exc
