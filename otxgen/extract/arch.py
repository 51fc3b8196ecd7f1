"""A backbone class's arch table (``arch_settings`` / ``arch_zoo``): the schema's options and the
catalog's rows both start from it."""

from __future__ import annotations

from typing import Any

_ARCH_TABLES = ("arch_settings", "arch_zoo")


def arch_table(cls: type, names: set[str]) -> tuple[str, list[Any], dict[Any, Any]] | None:
    """``(argument, options, table)`` from ``arch_settings`` / ``arch_zoo``: int keys go to ``depth``,
    string keys to ``arch``."""
    for attribute in _ARCH_TABLES:
        table = getattr(cls, attribute, None)
        if not isinstance(table, dict) or not table:
            continue
        keys = list(table)
        if all(isinstance(k, int) and not isinstance(k, bool) for k in keys) and "depth" in names:
            return "depth", keys, table
        if all(isinstance(k, str) for k in keys) and "arch" in names:
            return "arch", keys, table
    return None
