"""Values with positions, and findings. Shared by the YAML and the model-config readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Where:
    """A 1-based position in a file."""

    file: str
    line: int
    col: int


@dataclass
class Located:
    """A value read from a file, with the position of each key (``keys``) and each value (``values``).

    Paths are tuples from the root of ``value``. ``unresolved`` maps the paths of values that could
    not be evaluated statically to their source text; those paths are absent from ``value``.
    """

    value: Any
    values: dict[JsonPath, Where] = field(default_factory=dict)
    keys: dict[JsonPath, Where] = field(default_factory=dict)
    unresolved: dict[JsonPath, str] = field(default_factory=dict)

    def where(self, path: JsonPath, *, key: bool = False) -> Where:
        """The position of ``path``'s value (its key when ``key``), else of the nearest ancestor's key."""
        first, second = (self.keys, self.values) if key else (self.values, self.keys)
        found = first.get(path) or second.get(path)
        for end in range(len(path) - 1, -1, -1):
            if found is not None:
                return found
            found = self.keys.get(path[:end]) or self.values.get(path[:end])
        return found or Where("", 1, 1)


Severity = Literal["error", "warning", "note"]  # a warning, like a note, exits 0


@dataclass(frozen=True)
class Finding:
    """One thing to tell the user. ``unreadable`` marks input that could not be read at all (exit 2)."""

    where: Where
    path: str  # dotted path of the offending value, e.g. ``backbone.depth``; "" for the whole file
    message: str
    severity: Severity = "error"
    unreadable: bool = False
    # What kind of finding it is, stable across releases (``channels``, ``unknown-argument``...): the
    # ``code`` an editor shows beside the message (``otxgen lsp``) and a script may filter on.
    code: str = ""
    # The value that would set it right, as the config writes it (``[32, 64, 160, 384]`` for a neck's
    # in_channels): the quick fix an editor offers. Empty where there is no single right value.
    replacement: str = ""

    @property
    def exit_code(self) -> int:
        return 2 if self.unreadable else 1 if self.severity == "error" else 0


def dotted(path: JsonPath) -> str:
    """``('backbone', 'strides', 1)`` -> ``'backbone.strides[1]'``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text
