"""The three codemods in one pass over one parse: what ``otxgen build --backbone`` runs on a model config."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import libcst as cst

from codemods import _config
from codemods._merge import Style
from codemods._wrap import width_of, wrap_changed
from codemods.custom_imports import add_custom_imports_in_module, set_custom_imports_in_module
from codemods.errors import CodemodError
from codemods.overrides import apply_overrides_in_module
from codemods.replace_backbone import replace_backbone_in_module
from codemods.set_in_channels import set_in_channels_in_module


def swap_backbone(
    source: str,
    backbone: Mapping[str, object] | None,
    channels: Sequence[int] | None = None,
    *,
    imports: Sequence[str] = (),
    overrides: Mapping[str, object] | None = None,
    all_imports: Sequence[str] | None = None,
    drop_empty_imports: bool = False,
    in_index: Sequence[int] | None = None,
    target: str | None = None,
    backbone_inherited: bool | None = None,
    neck_inherited: bool | None = None,
    base_neck: Sequence[object] | None = None,
) -> str:
    """``replace_backbone``, then ``set_in_channels``, then ``add_custom_imports``, parsing once; the
    statements they change are then wrapped to the file's width (``codemods._wrap``).

    ``overrides`` (top-level names -> values, see ``codemods.overrides``) are merged in after the
    channels; ``all_imports``, when given, is the whole ``custom_imports`` list the config must end with
    (``drop_empty_imports``: an emptied statement of the form otxgen writes is removed).

    Same result as calling the three (see their docstrings); ``backbone_inherited`` / ``neck_inherited``
    are their ``inherited``, which build's plan knows from the config view (without it the codemods
    guess from ``_base_``); ``base_neck`` is ``set_in_channels``'s. A ``CodemodError`` points into
    ``source`` (not into the text after the backbone was replaced, whose lines may have moved).

    Before::

        model = dict(
            backbone=dict(type='ResNet', depth=50),  # the old one
            neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256))

    ``swap_backbone(source, {'type': 'torchvision.resnet18'}, [64, 128, 256, 512], imports=[TV])``
    with ``TV = 'otxgen.libraries.torchvision'``::

        custom_imports = dict(
            imports=['otxgen.libraries.torchvision'],
            allow_failed_imports=False)
        model = dict(
            backbone=dict(type='torchvision.resnet18'),  # the old one
            neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=256))
    """
    original = module = _config.parse(source)
    style = Style.from_source(source)
    if backbone is not None:
        module = replace_backbone_in_module(module, backbone, target=target, inherited=backbone_inherited, style=style)

    def set_channels(tree: cst.Module) -> cst.Module:
        assert channels is not None
        return set_in_channels_in_module(
            tree,
            channels,
            in_index=in_index,
            target=target,
            inherited=neck_inherited,
            base_neck=base_neck,
            style=style,
        )

    if channels is not None:
        module = _located(set_channels, module, original)
    if overrides:
        module = _located(lambda tree: apply_overrides_in_module(tree, overrides, style), module, original)
    if imports:
        module = _located(lambda tree: add_custom_imports_in_module(tree, list(imports), style), module, original)
    if all_imports is not None:
        wanted = list(all_imports)
        module = _located(
            lambda tree: set_custom_imports_in_module(tree, wanted, style, drop_empty=drop_empty_imports),
            module,
            original,
        )
    if module is not original:
        module = wrap_changed(module, original, width_of(source), style.trailing_comma)
    return source if module is original else module.code


def _located(step: Callable[[cst.Module], cst.Module], module: cst.Module, original: cst.Module) -> cst.Module:
    """``step(module)``; when it fails, and fails alike on the original module, that error instead: its
    line and column are in the caller's text. (Only the failing path runs ``step`` twice.)"""
    try:
        return step(module)
    except CodemodError as error:
        if module is original:
            raise
        try:
            step(original)
        except CodemodError as at_original:
            if at_original.message == error.message:
                raise at_original from None
        raise
