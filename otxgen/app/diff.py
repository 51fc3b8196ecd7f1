"""Planned writes as one unified diff that ``patch`` applies (and ``patch -R`` undoes) byte for byte.

Paths are relative to a root folder: the current one when every file is inside it, else the nearest
folder above both (``patch`` refuses absolute paths and ``..``: apply it with ``patch -p1 -d ROOT``).
Symlinks are followed, since the write replaces the link's target (and ``patch`` refuses to patch a
link). A file created by the write comes from ``/dev/null`` (``patch -R`` deletes it again); a last
line without a newline gets ``patch``'s ``\\ No newline at end of file``; lines end at ``\\n`` only, as
``patch`` reads them (a file with old Mac ``\\r`` endings is one line).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otxgen import fsio

NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class Write:
    """One file a build writes: ``before`` is ``None`` for a file it creates."""

    path: Path
    before: str | None
    after: str
    kind: str = "model"  # "model", "backbone" or "schema" (a backbone.yaml's copy of its schema)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def root_of(writes: Sequence[Write], cwd: Path) -> Path:
    """The folder the diff's paths are relative to: ``cwd``, or the nearest folder above it and them."""
    here = fsio.resolve(cwd)
    folders = [str(fsio.resolve(write.path).parent) for write in writes]
    return Path(os.path.commonpath([str(here), *folders])) if folders else here


def unified(writes: Sequence[Write], root: Path) -> str:
    """``diff -u`` of every changed write, ``a/`` and ``b/`` paths relative to ``root``."""
    return "".join(_one(write, root) for write in writes if write.changed)


def _one(write: Write, root: Path) -> str:
    name = fsio.resolve(write.path).relative_to(root).as_posix()
    before = "/dev/null" if write.before is None else f"a/{name}"
    lines = difflib.unified_diff(_lines(write.before or ""), _lines(write.after), before, f"b/{name}")
    return "".join(line if line.endswith("\n") else f"{line}\n{NO_NEWLINE}" for line in lines)


def _lines(text: str) -> list[str]:
    """Lines as ``patch`` counts them: each ends at ``\\n`` (kept), the last one may have none."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)
