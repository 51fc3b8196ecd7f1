"""Findings -> text (``file:line:col: path: message``), JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from otxgen.config.located import Finding


def render(findings: Sequence[Finding], output_format: str, files: int) -> str:
    if output_format == "json":
        return _json(findings, files)
    line = _github if output_format == "github" else _text
    return "".join(line(finding) + "\n" for finding in findings)


def summary(findings: Sequence[Finding], files: int) -> str:
    """One line for stderr: ``2 errors, 1 note in 3 files``."""
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity == "warning")
    notes = len(findings) - errors - warnings
    parts = [f"{errors} error{'s' * (errors != 1)}"]
    parts += [f"{warnings} warning{'s' * (warnings != 1)}"] if warnings else []
    parts += [f"{notes} note{'s' * (notes != 1)}"] if notes else []
    return f"{', '.join(parts)} in {files} file{'s' * (files != 1)}"


def _text(finding: Finding) -> str:
    where = finding.where
    label = f"{finding.severity}: " if finding.severity != "error" else ""
    path = f"{finding.path}: " if finding.path else ""
    position = f"{where.file}:{where.line}:{where.col}" if where.line else where.file
    return f"{position}: {label}{path}{finding.message}"


def _github(finding: Finding) -> str:
    """``::error file=F,line=L,col=C::message`` with GitHub's escaping of properties and data."""
    where = finding.where
    kind = {"note": "notice", "warning": "warning"}.get(finding.severity, "error")
    props = f"file={_escape(where.file, True)}"
    if where.line:
        props += f",line={where.line},col={where.col}"
    message = f"{finding.path}: {finding.message}" if finding.path else finding.message
    title = f"otxgen validate ({finding.code})" if finding.code else "otxgen validate"
    return f"::{kind} {props},title={_escape(title, True)}::{_escape(message, False)}"


def _escape(text: str, is_property: bool) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if is_property else text


def _json(findings: Sequence[Finding], files: int) -> str:
    items = [
        {
            "file": f.where.file,
            "line": f.where.line,
            "col": f.where.col,
            "path": f.path,
            "message": f.message,
            "severity": f.severity,
            "unreadable": f.unreadable,
            "code": f.code,
        }
        for f in findings
    ]
    valid = not any(f.severity == "error" for f in findings)
    return json.dumps({"valid": valid, "files": files, "findings": items}, indent=2) + "\n"
