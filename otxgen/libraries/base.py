"""What every library adapter provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Published = dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]
"""Backbone name -> its published checkpoints: ``(arch arguments, checkpoint record)`` pairs, the record
as ``otxgen.schema.published`` reads it (``name``, ``publisher``, ``url``, ``data``, ``top1``...)."""
Configured = dict[str, list[tuple[dict[str, Any], str]]]
"""Full backbone type -> how shipped configs configure it: ``(its other arguments, the config's path)``."""
ModelReader = Callable[[Path], dict[str, Any] | None]
"""A shipped config's whole view (``_base_`` chain merged, read statically), or None when unreadable."""


@dataclass(frozen=True)
class BackboneEntry:
    """One backbone a library offers: ``type`` is ``LIB.Name``; ``target`` the class or factory."""

    library: str
    name: str
    target: Any

    @property
    def type(self) -> str:
        return f"{self.library}.{self.name}"


class Adapter(Protocol):
    library: str

    def version(self) -> str:
        """The installed library's version."""
        ...

    def entries(self) -> list[BackboneEntry]:
        """Every backbone the live library offers, sorted by name."""
        ...

    def excluded(self) -> dict[str, str]:
        """Names the library offers that are not usable as backbones, with the reason."""
        ...

    def build(self, name: str, **kwargs: Any) -> Any:
        """Construct backbone ``name`` with ``kwargs`` (an ``nn.Module``)."""
        ...

    def custom_import(self) -> str:
        """The module to put in a config's ``custom_imports`` so its registry knows these types."""
        ...

    def published(self, read_config: ModelReader) -> Published:
        """The library's published ImageNet checkpoints, from the metadata it ships (no downloads)."""
        ...

    def lineage(self) -> dict[str, list[str]]:
        """Each model part the library registers that subclasses others it registers: its name -> their
        names, nearest first (mmdet's ``FPN_DropBlock`` -> ``['FPN']``); empty for a library whose
        configs are not swapped."""
        ...
