"""The one exception type of the codemods (they import libcst only, not otxgen)."""

from __future__ import annotations


class CodemodError(ValueError):
    """The source cannot be rewritten safely; ``line``/``col`` point at the cause (1-based, 0 when unknown)."""

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        self.message, self.line, self.col = message, line, col
        super().__init__(f"{line}:{col}: {message}" if line else message)
