"""``otxgen validate PATH ...``: backbone.yaml files and model configs against the committed schemas.

The I/O edge of ``otxgen.validate``: reads files and the schema store, never executes a config, imports
neither torch nor any mm* package.

What each PATH means:

- ``*.yaml`` / ``*.yml``: a backbone.yaml (a ``backbone:`` mapping with ``type``), unless it sets
  ``model`` or ``_base_`` at the top level: then a model config, as mmengine reads YAML configs;
- ``*.json``: a model config;
- ``*.py``: a model config (``model = dict(backbone=dict(...), ...)``), merged over its ``_base_`` files
  (read relative to its folder, evaluated as literals like the config, never executed);
- a directory: walked recursively (hidden directories, ``__pycache__`` and virtual envs skipped) for
  files named ``backbone.yaml`` / ``backbone.yml`` and for ``*.py`` files that assign ``model`` at
  module level; other files are not considered.

Unreadable input (missing, not a regular file, binary, not UTF-8, invalid YAML or Python, duplicate
keys, too deeply nested, a BOM in Python), in the file or in a ``_base_`` file it names, is reported like
a finding and makes the exit code 2; errors make it 1; notes ("cannot check statically") leave it 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from otxgen.app import Outcome, Say
from otxgen.config.located import Finding, Where
from otxgen.errors import InputError
from otxgen.fsio import read_bytes, read_text
from otxgen.options import ValidateOptions

YAML_SUFFIXES = (".yaml", ".yml")
BACKBONE_YAML_NAMES = ("backbone.yaml", "backbone.yml")
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
_MODEL_ASSIGNMENT = re.compile(rb"^model\s*=", re.MULTILINE)
_CONFIG_YAML_KEY = re.compile(r"^[\"']?(?:model|_base_)[\"']?\s*:", re.MULTILINE)


def validate(options: ValidateOptions, say: Say) -> Outcome:
    from otxgen.schema.store import StoreCatalog
    from otxgen.validate.report import render, summary

    catalog = StoreCatalog()
    bases: Any = None  # one BaseFiles for the run (a cache of the base files read), made at the first model config
    findings: list[Finding] = []
    said: set[Finding] = set()
    files = 0
    for path in _expand(options.paths, findings):
        files += 1
        if bases is None and path.suffix.lower() not in YAML_SUFFIXES:
            bases = _base_files()
        # A base file's finding is the same for every config that inherits it: say it once.
        new = [finding for finding in validate_file(path, catalog, bases) if finding not in said]
        said.update(new)
        findings += new
    files += sum(1 for path in options.paths if _refused(path))  # named, so counted, though not read
    say(f"[*] otxgen validate: {summary(findings, files)}")
    exit_code = max((finding.exit_code for finding in findings), default=0)
    return Outcome(render(findings, options.output_format, files), exit_code)


def validate_file(path: Path, catalog: Any, bases: Any = None) -> list[Finding]:
    """Findings for one file; unreadable input becomes one ``unreadable`` finding. ``bases``: a
    ``BaseFiles`` shared by the run (``_base_`` files are then followed), ``None`` for a fresh one."""
    try:
        text = read_text(path)  # a BOM stays: YAML skips it, a Python config with one is refused
    except InputError as error:
        return [_unreadable(error, str(path))]
    return validate_text(text, str(path), catalog, bases)


def validate_text(text: str, file: str, catalog: Any, bases: Any = None) -> list[Finding]:
    """Findings for ``text`` as the file ``file`` (an editor's unsaved buffer, or what was read): a
    backbone.yaml or a model config by its name and keys, as ``validate PATH`` decides."""
    from otxgen.validate.files import validate_backbone_yaml, validate_model_config

    try:
        if Path(file).suffix.lower() in YAML_SUFFIXES and not _CONFIG_YAML_KEY.search(text):
            return validate_backbone_yaml(text, file, catalog)
        return validate_model_config(text, file, catalog, bases if bases is not None else _base_files())
    except InputError as error:
        return [_unreadable(error, file)]


def _unreadable(error: InputError, file: str) -> Finding:
    return Finding(
        Where(error.path or file, error.line, error.col), "", error.cause, unreadable=True, code="unreadable"
    )


def _base_files() -> Any:
    from otxgen.config.inherit import BaseFiles

    return BaseFiles(_read_base)


def _read_base(path: str) -> str:
    """A ``_base_`` file's text, for ``validate_model_config``; ``InputError`` when unreadable."""
    return read_text(Path(path))


def _refused(path: Path) -> bool:
    """A path named on the command line that is neither a folder nor a kind of file validate reads."""
    return not path.is_dir() and path.exists() and path.suffix.lower() not in (*YAML_SUFFIXES, ".json", ".py")


def _expand(paths: Sequence[Path], findings: list[Finding]) -> Iterator[Path]:
    """Files to validate, in order; paths that are neither are recorded as unreadable."""
    for path in paths:
        if path.is_dir():
            yield from _walk(path)
        elif not _refused(path):
            yield path
        else:
            message = "not a backbone.yaml (.yaml, .yml) or a model config (.py, .yaml, .yml, .json)"
            findings.append(Finding(Where(str(path), 0, 0), "", message, "error", unreadable=True, code="unreadable"))


def _walk(directory: Path) -> Iterator[Path]:
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            if not child.name.startswith(".") and child.name not in SKIPPED_DIRS and not child.is_symlink():
                yield from _walk(child)
        elif child.name in BACKBONE_YAML_NAMES or (child.suffix == ".py" and _assigns_model(child)):
            yield child


def _assigns_model(path: Path) -> bool:
    try:
        return _MODEL_ASSIGNMENT.search(read_bytes(path)) is not None
    except InputError:
        return True  # let validate_file report why it cannot be read (a FIFO is never read)
