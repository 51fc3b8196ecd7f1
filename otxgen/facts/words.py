"""Close matches for a misspelt name, the one rule (schema and validate both suggest them)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'style'?"`` for a close match, else ``""``."""
    options = list(choices)
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:  # compare case-insensitively: 'resnet' -> 'ResNet'
        lowered = {option.lower(): option for option in options}
        found = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return f"; did you mean {found[0]!r}?" if found else ""
