"""Replace the ``backbone=`` of an mmengine model config, changing nothing else in the file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from codemods import _config, _layout, inheritance
from codemods._literal import NotLiteralError, code_of, expression, literal_value, maybe_literal, render
from codemods._merge import Style, is_plain_dict, merge_call, unplain_arg
from codemods.errors import CodemodError

DEFAULT_PATH: _config.Path = ("model", "backbone")
# Keys of models that wrap other models (semi-supervised, distillation, tracking): their backbone is
# not ``model.backbone``, so one is never added there.
WRAPPER_KEYS = ("detector", "teacher", "student", "architecture", "segmentor", "reid")


def backbone_path(module: cst.Module, target: str | None = None) -> _config.Path:
    """The dotted path of the backbone to change: ``target`` when given, else ``model.backbone``.

    Without a target, any other ``backbone=`` in the file's top-level dicts (a teacher and a student, a
    detector inside a semi-supervised wrapper, a re-id model) is an error: the codemod never guesses."""
    found = _config.all_keyword_paths(module, "backbone")
    if target is not None:
        path = _config.split_path(target)
        if path not in found and _config.resolve(module, path[:-1]) is None:
            listed = ", ".join(".".join(p) for p in found) or "none"
            raise CodemodError(f"target {target!r} not found in the config (backbones: {listed})")
        return path
    others = [path for path in found if path != DEFAULT_PATH]
    if others:
        listed = ", ".join(".".join(path) for path in found)
        node = _config.resolve(module, others[0])
        message = f"the config holds more than one model or a nested backbone ({listed}); pass target= one of them"
        raise _config.error_at(module, node, message)
    return DEFAULT_PATH


def _check_backbone(backbone: Mapping[str, object]) -> dict[str, object]:
    if not isinstance(backbone, Mapping) or not isinstance(backbone.get("type"), str):
        raise CodemodError(f"the new backbone must be a mapping with a string 'type', got {backbone!r}")
    try:
        render(dict(backbone), "'")
    except TypeError as exc:
        raise CodemodError(str(exc)) from exc
    return dict(backbone)


def _with_delete(backbone: dict[str, object], needed: bool) -> dict[str, object]:
    return {"_delete_": True, **backbone} if needed and "_delete_" not in backbone else backbone


@dataclass(frozen=True)
class _Job:
    module: cst.Module
    path: _config.Path
    backbone: dict[str, object]
    inherited: bool
    style: Style


def _check_old(module: cst.Module, path: _config.Path, old: cst.BaseExpression) -> None:
    """Refuse what a rewrite would silently lose: the positional or ``**`` arguments of a ``dict(...)``,
    or a backbone computed by an expression (``backbone=bb``, ``backbone=make()``), whose variable or
    call would be left behind. A ``{...}`` display or a literal is replaced like a ``dict(...)``."""
    if _config.is_dict_call(old):
        unplain = unplain_arg(cst.ensure_type(old, cst.Call))
        if unplain is not None:
            raise _config.error_at(
                module,
                unplain,
                "cannot rewrite a backbone dict with positional or ** arguments: write its arguments out "
                "(dict(type=..., depth=...)), then build again",
            )
        return
    if isinstance(old, cst.Dict) or maybe_literal(old) is not NotLiteralError:
        return
    code = code_of(old)
    shown = code if len(code) <= 40 else code[:37] + "..."
    message = f"{'.'.join(path)} is {shown!r}, not dict(...): write the backbone inline as dict(...) to rewrite it"
    raise _config.error_at(module, old, message)


def _replace_existing(job: _Job, old: cst.BaseExpression) -> cst.Module:
    _check_old(job.module, job.path, old)
    if isinstance(old, cst.Call) and is_plain_dict(old):
        merged = merge_call(old, job.backbone, job.style, delete_first=job.inherited)
        new: cst.BaseExpression = _layout.without_stale_comments(old, merged)
    else:
        host = _config.resolve(job.module, job.path[:-1])
        indent = None  # in a ``{...}`` display: on one line, wrapped to the file's width after the steps
        if isinstance(host, cst.Call):
            frame, items = _layout.decompose(host)
            indent = _layout.new_line_indent(frame, items, next(it for it in items if it.arg.value is old))
        value = _with_delete(job.backbone, job.inherited)
        new = expression(render(value, job.style.quote, indent, trailing=job.style.trailing_comma))
    return job.module if new is old else _config.replace_at(job.module, job.path, new)


def _add_missing(job: _Job) -> cst.Module:
    module, path = job.module, job.path
    parent = _config.resolve(module, path[:-1])
    if not _config.has_base(module):
        raise CodemodError(f"no {'.'.join(path)} in the config and no _base_ to inherit one from")
    value = _with_delete(job.backbone, job.inherited)
    if parent is None and path[:-1] == ("model",):
        code = f"model = dict(\n    {path[-1]}={render(value, job.style.quote, ' ' * 8)})\n"
        return _config.append_statement(module, code)
    if not isinstance(parent, cst.Call) or not is_plain_dict(parent):
        message = (
            f"{'.'.join(path[:-1])} is not a dict(...) of keyword arguments the codemod can extend: write its "
            f"keys out ({path[-2]} = dict({path[-1]}=dict(...), ...)), then build again"
        )
        raise _config.error_at(module, parent, message)
    wraps = [key for key in (*WRAPPER_KEYS, "_delete_") if _config.keyword_arg(parent, key) is not None]
    if path == DEFAULT_PATH and wraps:
        message = f"model has no backbone= and wraps or redefines a model ({wraps[0]}=); pass target= the backbone path"
        raise _config.error_at(module, parent, message)
    frame, items = _layout.decompose(parent)
    indent = _layout.new_line_indent(frame, items)
    new = merge_call(parent, {path[-1]: value}, job.style, drop_missing=False, indent=indent)
    return _config.replace_at(module, path[:-1], new)


def is_inherited(module: cst.Module, path: _config.Path, inherited: bool | None) -> bool:
    """Whether the ``_base_`` chain defines ``path``: as told by the caller (who can read the base files,
    as ``otxgen build`` does from its merged view of the config), else guessed from the ``_base_`` entries' names."""
    if not _config.has_base(module) or inheritance.deletes_above(module, path):
        return False
    return inherited if inherited is not None else inheritance.guess_inherits(module)


def replace_backbone_in_module(
    module: cst.Module,
    backbone: Mapping[str, object],
    *,
    target: str | None = None,
    inherited: bool | None = None,
    style: Style | None = None,
) -> cst.Module:
    """The CST-level rewrite behind ``replace_backbone`` (``style`` defaults to the module's own)."""
    new = _check_backbone(backbone)
    path = backbone_path(module, target)
    job = _Job(module, path, new, is_inherited(module, path, inherited), style or Style.of(module))
    old = _config.resolve(module, path)
    return _add_missing(job) if old is None else _replace_existing(job, old)


def replace_backbone(
    source: str, backbone: Mapping[str, object], *, target: str | None = None, inherited: bool | None = None
) -> str:
    """Set the ``backbone=`` value inside ``model = dict(...)`` to ``backbone``, touching nothing else.

    Keys whose value already equals the new one (by literal value; a tuple equals a list) keep their text
    and comments; other keys get the new value and lose the comments they own, which described the old
    value: the one at the end of their line and the comment lines right above them (a comment block a
    blank line away stays; inside a changed nested dict, the same holds key by key). Comments after the
    dict's ``(`` and before its ``)`` stay. Keys missing from ``backbone`` are dropped, new keys are
    inserted after the key that precedes them in ``backbone``, in the layout of their siblings. Values
    are written as ``dict(...)`` in the file's dominant quote style; a replaced tuple stays a tuple.

    The backbone this leaves is exactly ``backbone``: when the ``_base_`` files define it too
    (``inherited``; when None, guessed: any ``_base_`` entry that is not a dataset, schedule or runtime
    file; pass the truth, as ``otxgen build`` does), ``_delete_=True`` comes first, whether
    or not the type changes, so none of the base's keys merge back in (a base ``init_cfg`` would load
    the old backbone's weights; a base ``depth`` or ``arch`` would override a key just dropped). mmengine
    leaves ``_delete_`` in place over a base without the key, so it is never added then, nor under a
    ``model`` that already says ``_delete_=True``. A file with ``_base_`` and no backbone gets one, e.g.
    ``model = dict(backbone=dict(_delete_=True, ...))``. A ``_delete_`` already in the backbone is kept,
    so a second run changes nothing.

    ``target`` is the dotted path of the backbone to change (``model.backbone`` by default). A config
    with another ``backbone=`` anywhere in its top-level dicts (teacher and student, ``model.detector``,
    ``model.reid``) raises ``CodemodError`` unless ``target`` names one, e.g. ``model.student.backbone``.

    Before (the base file defines ``backbone=dict(type='RegNet', arch='regnetx_3.2gf', init_cfg=...)``)::

        _base_ = ['../_base_/models/retinanet_regnetx-3.2GF_fpn.py']
        model = dict(
            backbone=dict(
                type='RegNet',  # same family
                # 1.6 GFLOPs
                arch='regnetx_1.6gf',  # smaller
                out_indices=(0, 1, 2, 3)),
            neck=dict(in_channels=[72, 168, 408, 912]))

    ``replace_backbone(source, {'type': 'RegNet', 'arch': 'regnetx_400mf', 'out_indices': (0, 1, 2, 3)},
    inherited=True)``, the type unchanged, the ``arch`` comments gone with their value::

        _base_ = ['../_base_/models/retinanet_regnetx-3.2GF_fpn.py']
        model = dict(
            backbone=dict(
                _delete_=True,
                type='RegNet',  # same family
                arch='regnetx_400mf',
                out_indices=(0, 1, 2, 3)),
            neck=dict(in_channels=[72, 168, 408, 912]))
    """
    module, style = _config.parse(source), Style.from_source(source)
    return replace_backbone_in_module(module, backbone, target=target, inherited=inherited, style=style).code


def parse_mapping(text: str) -> dict[str, object]:
    """A backbone given on the codemod's command line: a Python literal or JSON object, ``dict(...)``
    allowed."""
    import argparse  # the command line's, not a swap's

    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = literal_value(expression(text))
        except (NotLiteralError, cst.ParserSyntaxError) as exc:
            raise argparse.ArgumentTypeError(f"not a dict literal: {text}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"not a dict literal: {text}")
    return value
