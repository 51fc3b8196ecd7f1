"""Which model parts of the OpenMMLab libraries subclass which: read from their registries at schema
export (``lineage.json`` beside the schemas), so that a fact about a class holds for its subclasses.

mmdet's ``FPN_DropBlock`` is an ``FPN`` with DropBlock added, ``DeiTClsHead`` a
``VisionTransformerClsHead``: the consumer facts name the base, and ``ancestors`` tells which other
names are the same thing to them. A part the libraries do not register (a user's own neck) has none.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LINEAGE_FILE = "lineage.json"


@cache
def _table() -> dict[str, dict[str, tuple[str, ...]]]:
    """library -> name -> the registered classes it subclasses, nearest first (empty when the committed
    file is missing or not one otxgen wrote: no fact is then extended to subclasses)."""
    try:
        data = json.loads((resources.files("otxgen.schemas") / LINEAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, ModuleNotFoundError):
        return {}
    table = data.get("lineage") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        return {}
    return {
        library: {name: tuple(bases) for name, bases in parts.items() if isinstance(bases, list)}
        for library, parts in table.items()
        if isinstance(parts, dict)
    }


def ancestors(type_value: str) -> tuple[str, ...]:
    """The registered classes a config's ``type`` subclasses, nearest first: ``'mmdet.FPN_DropBlock'``
    -> ``('FPN',)``. An unscoped name is looked up in every library (their names agree)."""
    library, _, name = type_value.rpartition(".")
    sections = [_table()[library]] if library in _table() else list(_table().values())
    return next((section[name] for section in sections if name in section), ())
