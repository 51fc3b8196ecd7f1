"""One function per command. Each takes a frozen options object and a ``say`` callback for progress
messages (stderr), and returns an ``Outcome``; none calls ``sys.exit``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Say = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """What a command produced: ``stdout`` holds results (tables, JSON, diffs); messages went to ``say``."""

    stdout: str = ""
    exit_code: int = 0
