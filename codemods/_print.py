"""The text of a rewritten config, printing only what changed.

libcst prints a module as its header, each top-level statement in turn (the comment lines above it
included), then its footer; a statement the codemods hand on untouched prints as the source has it. So
the text of the statements a swap did not change is cut from the source, and only the changed ones are
printed: a swap changes a few statements of a config, and printing the whole module cost as much as
the codemods' own work.

Where a statement's lines are taken from Python's parser (the tree ``check_syntax`` already made) and
libcst's count of the comment lines above it; the two must tile the file exactly, line for line, or the
whole module is printed as before (a compound statement at the top level, a file without a final newline).
"""

from __future__ import annotations

import io

import libcst as cst

from codemods._config import code_for
from otxgen.facts.pysource import check_syntax

Span = tuple[int, int]  # a statement's lines, 0-based, end excluded, the comment lines above it included


def module_text(original: cst.Module, module: cst.Module, source: str) -> str:
    """``module.code``, where ``module`` is ``original`` (parsed from ``source``) after the codemods."""
    lines = io.StringIO(source, newline="").readlines()  # \n, \r\n and \r, as Python and libcst count lines
    unchanged_ends = module.header is original.header and module.footer is original.footer
    spans = _spans(original, source, len(lines)) if unchanged_ends and module.has_trailing_newline else None
    if spans is None:
        return module.code
    kept = {id(statement): span for statement, span in zip(original.body, spans, strict=True)}
    parts = lines[: len(original.header)]
    for statement in module.body:
        span = kept.get(id(statement))
        parts.append("".join(lines[span[0] : span[1]]) if span else code_for(module, statement))
    parts.extend(lines[len(lines) - len(original.footer) :])
    return "".join(parts)


def _spans(original: cst.Module, source: str, count: int) -> list[Span] | None:
    """Each top-level statement's lines in ``source``, or None where they do not tile it exactly."""
    if not original.has_trailing_newline or not source.endswith(("\n", "\r")):
        return None
    nodes = iter(check_syntax(source).body)
    at, spans = len(original.header), []
    for statement in original.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            return None
        parts = [next(nodes, None) for _ in statement.body]  # ``a = 1; b = 2`` is two statements to Python
        if not parts or any(part is None for part in parts):
            return None
        first = parts[0].lineno - 1 - len(statement.leading_lines)  # type: ignore[union-attr]
        last = max(part.end_lineno or 0 for part in parts if part is not None)
        if first != at or last <= first:
            return None
        spans.append((first, last))
        at = last
    if next(nodes, None) is not None or at + len(original.footer) != count:
        return None
    return spans
