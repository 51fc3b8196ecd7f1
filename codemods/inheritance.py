"""What a config inherits from its ``_base_`` files, read statically (no config is executed).

mmengine merges a child's dict into its base's; ``_delete_=True`` drops the base's keys first, but it is
only consumed when the base has that key: over a base without it, ``_delete_`` stays in the config and
reaches the constructor. So the codemods need to know whether the ``_base_`` chain defines e.g.
``model.backbone``. Reading the base files is the caller's job (``otxgen build`` reads the whole chain
statically and says so); without it, the codemods guess from the ``_base_`` entries' names.
"""

from __future__ import annotations

import re

import libcst as cst

from codemods import _config
from codemods._literal import maybe_literal

# Base files that hold data pipelines, schedules or runtime settings, never a model.
_DATA_ONLY = re.compile(r"(^|/)(datasets?|schedules?)/|default_runtime|(^|/)[^/]*runtime[^/]*\.py$")


def _base_files(module: cst.Module) -> list[str]:
    assign = _config.assigned(module, "_base_")
    value = maybe_literal(assign.value) if assign is not None else []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise _config.error_at(module, assign, "_base_ is not a literal string or list of strings")


def deletes_above(module: cst.Module, path: _config.Path) -> bool:
    """Whether a dict on the way to ``path`` (``model`` for ``model.backbone``) says ``_delete_=True``:
    then nothing below it is inherited."""
    for end in range(1, len(path)):
        node = _config.resolve(module, path[:end])
        if isinstance(node, cst.Call) and _config.keyword_arg(node, "_delete_") is not None:
            return True
    return False


def guess_inherits(module: cst.Module) -> bool:
    """Without the base files: inherit a model unless every ``_base_`` entry is a data/schedule/runtime file."""
    try:
        bases = _base_files(module)
    except Exception:  # noqa: BLE001 - an unreadable _base_ may define anything
        return True
    return any(not _DATA_ONLY.search(base) for base in bases)
