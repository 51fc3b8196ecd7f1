"""The adapter for each library (adapters import their library lazily); the library table itself is a
fact (``otxgen.facts.libraries``), named here too for the adapters' callers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otxgen.facts.libraries import (
    ALIASES,
    DENSE_TASKS,
    LIBRARIES,
    REGISTERING_MODULES,
    TASKS,
    resolve_library,
    split_type,
)

if TYPE_CHECKING:
    from otxgen.libraries.base import Adapter
__all__ = [
    "ALIASES",
    "DENSE_TASKS",
    "LIBRARIES",
    "REGISTERING_MODULES",
    "TASKS",
    "get_adapter",
    "resolve_library",
    "split_type",
]


def get_adapter(library: str) -> Adapter:
    """The adapter object for a canonical library name."""
    import importlib

    library = resolve_library(library)
    if library in ("mmdet", "mmseg", "mmpretrain"):
        from otxgen.libraries.mm import MMAdapter

        return MMAdapter(library)
    adapter: Adapter = importlib.import_module(f"otxgen.libraries.{library}").ADAPTER
    return adapter
