"""Hand-written schemas for arguments whose shape no signature or docstring states precisely.

HRNet's ``extra`` is a dict of four stage dicts; the schema spells out each stage's keys so a user who
must fill it in (it is required and has no options) sees what to write.
"""

from __future__ import annotations

from typing import Any

_INT_LIST = {"type": "array", "items": {"type": "integer", "minimum": 1}}
_HRNET_STAGE: dict[str, Any] = {
    "type": "object",
    "required": ["num_modules", "num_branches", "block", "num_blocks", "num_channels"],
    "properties": {
        "num_modules": {"type": "integer", "minimum": 1, "description": "Number of HRModules in this stage."},
        "num_branches": {"type": "integer", "minimum": 1, "description": "Number of parallel branches."},
        "block": {"type": "string", "enum": ["BASIC", "BOTTLENECK"], "description": "Residual block type."},
        "num_blocks": dict(_INT_LIST, description="Blocks per branch; one entry per branch."),
        "num_channels": dict(_INT_LIST, description="Channels per branch; one entry per branch."),
        "fuse_method": {"type": "string", "enum": ["SUM"]},
        "multiscale_output": {"type": "boolean"},
    },
}
_HRNET_W18 = {
    "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": [4], "num_channels": [64]},
    "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC", "num_blocks": [4, 4], "num_channels": [18, 36]},
    "stage3": {
        "num_modules": 4,
        "num_branches": 3,
        "block": "BASIC",
        "num_blocks": [4, 4, 4],
        "num_channels": [18, 36, 72],
    },
    "stage4": {
        "num_modules": 3,
        "num_branches": 4,
        "block": "BASIC",
        "num_blocks": [4, 4, 4, 4],
        "num_channels": [18, 36, 72, 144],
    },
}
_HRNET_EXTRA: dict[str, Any] = {
    "type": "object",
    "required": ["stage1", "stage2", "stage3", "stage4"],
    "properties": {f"stage{i}": _HRNET_STAGE for i in range(1, 5)},
    "examples": [_HRNET_W18],
}
_STRUCTURED = {("HRNet", "extra"): _HRNET_EXTRA}


def structured_property(class_name: str, argument: str) -> dict[str, Any] | None:
    """A fresh copy of the hand-written schema for ``class_name``'s ``argument``, or None."""
    import copy

    schema = _STRUCTURED.get((class_name, argument))
    return copy.deepcopy(schema) if schema is not None else None
