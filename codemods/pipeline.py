"""The codemods in one pass over one parse: what ``otxgen build --backbone`` runs on a model config.

``STEPS`` is the one list of them, in the order they run; a step takes the tree, the request and the
file's style, and returns the new tree, or None where the request does not ask for it. A new codemod is
one entry there (the golden tests check that each is run by some case)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import libcst as cst

from codemods import _config
from codemods._config import is_dict_call
from codemods._layout import comments_kept_on_their_line, without_stale_comments
from codemods._merge import Style
from codemods._print import Printer
from codemods._wrap import width_of, wrap_changed
from codemods.custom_imports import add_custom_imports_in_module, set_custom_imports_in_module
from codemods.errors import CodemodError
from codemods.overrides import apply_overrides_in_module
from codemods.replace_backbone import backbone_path, replace_backbone_in_module
from codemods.set_in_channels import set_in_channels_in_module


@dataclass(frozen=True)
class Swap:
    """What one pass is asked to write: ``swap_backbone``'s arguments."""

    backbone: Mapping[str, object] | None
    channels: Sequence[int] | None = None
    imports: Sequence[str] = ()
    overrides: Mapping[str, object] | None = None
    all_imports: Sequence[str] | None = None
    drop_empty_imports: bool = False
    in_index: Sequence[int] | None = None
    target: str | None = None
    backbone_inherited: bool | None = None
    neck_inherited: bool | None = None
    base_neck: Sequence[object] | None = None


Step = Callable[[cst.Module, Swap, Style], "cst.Module | None"]


def _replace_backbone(tree: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    if swap.backbone is None:
        return None
    return replace_backbone_in_module(
        tree, swap.backbone, target=swap.target, inherited=swap.backbone_inherited, style=style
    )


def _set_in_channels(tree: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    if swap.channels is None:
        return None
    return set_in_channels_in_module(
        tree,
        swap.channels,
        in_index=swap.in_index,
        target=swap.target,
        inherited=swap.neck_inherited,
        base_neck=swap.base_neck,
        style=style,
    )


def _apply_overrides(tree: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    return apply_overrides_in_module(tree, swap.overrides, style) if swap.overrides else None


def _add_custom_imports(tree: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    return add_custom_imports_in_module(tree, list(swap.imports), style) if swap.imports else None


def _set_custom_imports(tree: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    if swap.all_imports is None:
        return None
    return set_custom_imports_in_module(tree, list(swap.all_imports), style, drop_empty=swap.drop_empty_imports)


STEPS: tuple[tuple[str, Step], ...] = (
    ("replace_backbone", _replace_backbone),
    ("set_in_channels", _set_in_channels),
    ("apply_overrides", _apply_overrides),
    ("add_custom_imports", _add_custom_imports),
    ("set_custom_imports", _set_custom_imports),
)


def swap_backbone(source: str, swap: Swap) -> str:
    """The steps ``swap`` asks for (``STEPS``: ``replace_backbone``, then ``set_in_channels``, then the
    ``overrides``, then ``custom_imports``), parsing once; the statements they change are then wrapped to
    the file's width (``codemods._wrap``).

    ``overrides`` (top-level names -> values, see ``codemods.overrides``) are merged in after the
    channels; ``all_imports``, when given, is the whole ``custom_imports`` list the config must end with
    (``drop_empty_imports``: an emptied statement of the form otxgen writes is removed).

    Same result as calling the codemods one by one (see their docstrings); ``backbone_inherited`` /
    ``neck_inherited`` are their ``inherited``, which build's plan knows from the config view (without it the codemods
    guess from ``_base_``); ``base_neck`` is ``set_in_channels``'s. A ``CodemodError`` points into
    ``source`` (not into the text after the backbone was replaced, whose lines may have moved).

    Before::

        model = dict(
            backbone=dict(type='ResNet', depth=50),  # the old one
            neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256))

    ``swap_backbone(source, Swap({'type': 'torchvision.resnet18'}, [64, 128, 256, 512], imports=[TV]))``
    with ``TV = 'otxgen.libraries.torchvision'``::

        custom_imports = dict(
            imports=['otxgen.libraries.torchvision'],
            allow_failed_imports=False)
        model = dict(
            backbone=dict(type='torchvision.resnet18'),  # the old one
            neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=256))
    """
    return run_steps(source, swap)[0]


def run_steps(source: str, swap: Swap) -> tuple[str, list[str]]:
    """``source`` with every step of ``STEPS`` the request asks for applied to one parse, what changed
    wrapped to the file's width; and the names of the steps that ran.

    The parse is of what the steps read (``_config.parse_reading``): the statements they neither read nor
    change are stood in for, then cut from the source as it has them. Where the result would not be cut
    so (a statement stood in for changed, or the file not tiled by its statements), the whole source is
    parsed and the steps run again: the text is never printed from a stand-in."""
    original, stood = _config.parse_reading(source, _names_read(swap))
    result = _run(source, swap, original, stood) if stood else None
    if result is None:
        result = _run(source, swap, original if not stood else _config.parse(source), frozenset())
    assert result is not None  # nothing stood in: printed as it is
    return result


def _names_read(swap: Swap) -> set[str]:
    """The top-level names whose statements the steps read or change (besides ``_base_`` and
    ``custom_imports``, and those that mention a backbone: ``_config.parse_reading``)."""
    root = _config.split_path(swap.target)[0] if swap.target else "model"
    return {root, *(swap.overrides or {})}


def _run(source: str, swap: Swap, original: cst.Module, stood: frozenset[int]) -> tuple[str, list[str]] | None:
    """``run_steps`` on ``original`` (parsed from ``source``, its statements at ``stood`` stood in for);
    None where that would print a stand-in."""
    module = original
    style = Style.from_source(source)
    ran: list[str] = []
    for name, step in STEPS:
        changed = _located(step, module, original, swap, style)
        if changed is not None:
            module = changed
            ran.append(name)
    if module is original:
        return source, ran
    module = _stale_comments_dropped(original, module, swap.target)
    printer = Printer(original, source)
    module = wrap_changed(module, printer, width_of(source), style.trailing_comma)  # untouched lines fit already
    module = comments_kept_on_their_line(original, module)
    if stood and not (printer.cuts(module) and {id(original.body[i]) for i in stood} <= {id(s) for s in module.body}):
        return None
    return printer.module_text(module), ran


def _stale_comments_dropped(original: cst.Module, module: cst.Module, target: str | None) -> cst.Module:
    """The backbone's arguments whose value the steps changed lose the comments that described the old
    one (``_layout.without_stale_comments``), whichever step changed them."""
    path = backbone_path(original, target)
    old, new = _config.resolve(original, path), _config.resolve(module, path)
    if not (isinstance(old, cst.Call) and isinstance(new, cst.Call) and is_dict_call(old) and is_dict_call(new)):
        return module
    dropped = without_stale_comments(old, new)
    return module if dropped is new else _config.replace_at(module, path, dropped)


def _located(step: Step, module: cst.Module, original: cst.Module, swap: Swap, style: Style) -> cst.Module | None:
    """``step`` on ``module``; when it fails, and fails alike on the original module, that error instead:
    its line and column are in the caller's text. (Only the failing path runs ``step`` twice.)"""
    try:
        return step(module, swap, style)
    except CodemodError as error:
        if module is original:
            raise
        try:
            step(original, swap, style)
        except CodemodError as at_original:
            if at_original.message == error.message:
                raise at_original from None
        raise
