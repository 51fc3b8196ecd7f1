"""``otxgen schema export [LIB ...] [--out DIR] [--check]``: live libraries -> ``schemas/``.

Output is deterministic: sorted keys, two-space indent, a trailing newline, no timestamps; backbones
in name order. Each schema carries a fingerprint (``x-otxgen.fingerprint``: extraction method,
library and torch versions, the signature schema, arch tables and the class source). Where the
committed schema's fingerprint equals the fresh one, its channel table and tasks are reused, so a
drift check on an unchanged stack costs the library imports and signature reading only; tables are
re-measured (shape probe) only for backbones whose fingerprint changed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from otxgen.app import Outcome, Say
from otxgen.errors import InputError, MissingExtraError
from otxgen.libraries import LIBRARIES, get_adapter
from otxgen.options import SchemaExportOptions

INDEX_FORMAT = 1
# ``lineage.json``: which registered model parts subclass which, per library (read by the facts layer,
# ``otxgen.facts.lineage``): a neck that subclasses FPN is read as an FPN.
LINEAGE_FILE, LINEAGE_FORMAT = "lineage.json", 1


def render(data: Any) -> str:
    """The one JSON rendering used for every generated file."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def default_out() -> Path:
    """The package's schemas folder (``schemas/`` of the checkout for an editable install)."""
    from importlib import resources

    return Path(str(resources.files("otxgen.schemas")))


def export(options: SchemaExportOptions, say: Say) -> Outcome:
    out = options.out or default_out()
    libraries = options.libraries or LIBRARIES
    files: dict[str, str] = {}
    index = _own(out / "index.json", "format") or {}
    index_libraries: dict[str, Any] = dict(index.get("libraries", {}))
    backbones = [b for b in index.get("backbones", []) if b.get("library") not in libraries]
    lineage: dict[str, Any] = dict((_own(out / LINEAGE_FILE, "lineage") or {}).get("lineage", {}))
    for library in libraries:
        schemas, info, parts = _export_library(library, out)
        index_libraries[library] = info
        lineage.pop(library, None)
        lineage.update({library: parts} if parts else {})
        for schema in schemas:
            extension = schema["x-otxgen"]
            files[_relative(schema)] = render(schema)
            backbones.append(_index_row(schema, extension))
    backbones.sort(key=lambda row: (LIBRARIES.index(row["library"]), row["type"]))
    files["index.json"] = render(
        {"format": INDEX_FORMAT, "libraries": dict(sorted(index_libraries.items())), "backbones": backbones}
    )
    files[LINEAGE_FILE] = render({"format": LINEAGE_FORMAT, "lineage": dict(sorted(lineage.items()))})
    stale = _stale_files(out, libraries, files)
    if options.check:
        return _check(out, files, stale, say)
    _write(out, files, stale)
    say(f"wrote {len(files) - 2} schemas, index.json and {LINEAGE_FILE} to {out}")
    return Outcome()


def _export_library(library: str, out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, list[str]]]:
    import click

    from otxgen.extract.catalog import url_index
    from otxgen.extract.signature import schema_for

    adapter = _adapter(library)
    entries = adapter.entries()
    published = adapter.published(_config_reader())
    configured = _configured()
    by_url = url_index({**_torchvision_published(), **published})
    schemas = []
    with click.progressbar(
        entries, label=f"{library:<11}", file=sys.stderr, item_show_func=lambda e: e.name if e else None
    ) as bar:
        for entry in bar:
            previous = _read_json(out / library / f"{entry.name}.json", "x-otxgen")
            found = configured.get(entry.type)
            schemas.append(schema_for(entry, adapter, previous, published.get(entry.name), by_url, found))
    info = {"version": adapter.version(), "excluded": dict(sorted(adapter.excluded().items()))}
    return schemas, info, adapter.lineage()


@cache
def _torchvision_published() -> dict[str, Any]:
    """torchvision's weights by model: the figures of the ``torchvision://`` addresses mm configs load."""
    return {f"torchvision.{name}": pairs for name, pairs in _adapter("torchvision").published(_config_reader()).items()}


@cache
def _configured() -> dict[str, list[tuple[dict[str, Any], str]]]:
    """How the installed mm libraries' shipped configs configure each backbone, across libraries (an
    mmdet config's ``mmpretrain.TIMMBackbone`` is mmpretrain's)."""
    found: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for library in LIBRARIES:
        try:
            configure = getattr(get_adapter(library), "configured", None)
            uses = configure(_config_reader()) if configure is not None else {}
        except ImportError:  # a library not installed ships no configs here
            continue
        for backbone_type, pairs in uses.items():
            found.setdefault(backbone_type, []).extend(pairs)
    return found


@cache
def _config_reader() -> Callable[[Path], dict[str, Any] | None]:
    """The config view for the libraries' shipped configs: their whole ``_base_`` chain read statically
    (never executed), each config once per process; None for a config that cannot be read so."""
    from otxgen.config.inherit import BaseFiles, inherit
    from otxgen.config.model_config import read_config
    from otxgen.errors import OtxgenError

    bases = BaseFiles(lambda relative: Path(relative).read_text(encoding="utf-8"))

    @cache
    def read(path: Path) -> dict[str, Any] | None:
        try:
            facts = read_config(path.read_text(encoding="utf-8"), str(path))
            merged = inherit(facts, bases) if facts.bases else facts
        except (OSError, OtxgenError, RecursionError):
            return None
        return None if isinstance(merged, str) else merged.names.value

    return read


def _adapter(library: str) -> Any:
    try:
        adapter = get_adapter(library)
        adapter.version()
    except ImportError as error:
        raise MissingExtraError(f"schema export needs the [mm] extra ({error.name or error} is missing)") from None
    return adapter


def _relative(schema: dict[str, Any]) -> str:
    extension = schema["x-otxgen"]
    return f"{extension['library']}/{extension['name']}.json"


def _index_row(schema: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": schema["title"],
        "library": extension["library"],
        "required_args": extension["required_args"],
        "tasks": extension["tasks"],
        "schema": _relative(schema),
        "archs": _cost_rows(schema),
    }


def _cost_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``find`` shows of the catalog, per arch option (aliases together): the index stays the one
    file ``find`` reads."""
    from otxgen.schema.published import archs

    return [
        {
            "arch": list(arch.labels),
            "params": arch.params.value,
            "params_source": arch.params.source,
            "gflops": arch.gflops.value,
            "gflops_source": arch.gflops.source,
            "top1": arch.top1,
            "weights": len(arch.checkpoints),
        }
        for arch in archs(schema)
    ]


def _read_json(path: Path, mark: str) -> dict[str, Any] | None:
    """``path``'s JSON object when it has the key ``mark``, else ``None``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and mark in data else None


def _stale_files(out: Path, libraries: Iterable[str], files: dict[str, str]) -> list[str]:
    """Schemas otxgen wrote for the exported libraries (``x-otxgen``) that they no longer offer; any
    other file there (a user's notes) is not ours to delete. A file in the way of a schema that otxgen
    did not write is refused before anything is written."""
    stale = []
    for relative in files:
        _own(out / relative, _MARKS.get(relative, "x-otxgen"))
    for library in libraries:
        for path in sorted((out / library).glob("*.json")):
            relative = f"{library}/{path.name}"
            data = _read_json(path, "x-otxgen")
            if relative not in files and data is not None and _ours(data, "x-otxgen"):
                stale.append(relative)
    return stale


_MARKS = {"index.json": "format", LINEAGE_FILE: "lineage"}  # the key that marks each file otxgen writes


def _own(path: Path, mark: str) -> dict[str, Any] | None:
    """``path``'s JSON when otxgen wrote it, ``None`` when there is no file; a file otxgen did not write
    (see ``_ours``) is an ``InputError``: never replaced."""
    if not path.exists():
        return None
    data = _read_json(path, mark)
    if data is None or not _ours(data, mark):
        raise InputError(
            f"exists and was not written by otxgen (not an otxgen {_KINDS[mark]}); move it or choose another --out",
            str(path),
        )
    return data


_KINDS = {"x-otxgen": "schema", "format": "index", "lineage": "lineage table"}


def _ours(data: dict[str, Any], mark: str) -> bool:
    """Whether JSON data has the form otxgen writes: a schema's ``x-otxgen`` object, a lineage table's
    ``lineage`` object beside its ``format``, or an index's ``format`` number with its ``libraries``
    object and ``backbones`` rows (another tool's index may have a ``format`` too)."""
    if mark in ("x-otxgen", "lineage"):
        return isinstance(data.get(mark), dict) and (mark == "x-otxgen" or isinstance(data.get("format"), int))
    rows = data.get("backbones")
    return (
        isinstance(data.get("format"), int)
        and isinstance(data.get("libraries"), dict)
        and isinstance(rows, list)
        and all(isinstance(row, dict) and isinstance(row.get("library"), str) for row in rows)
    )


def _check(out: Path, files: dict[str, str], stale: list[str], say: Say) -> Outcome:
    drift = [rel for rel, text in sorted(files.items()) if _current(out / rel) != text] + stale
    if not drift:
        say(f"{len(files)} files up to date in {out}")
        return Outcome()
    say(f"{len(drift)} file(s) drift from the live libraries; run 'otxgen schema export' to update them")
    return Outcome("".join(f"{out / rel}\n" for rel in drift), 1)


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write(out: Path, files: dict[str, str], stale: list[str]) -> None:
    from otxgen.fsio import write_text_atomic

    for relative, text in sorted(files.items()):
        path = out / relative
        if _current(path) == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    for relative in stale:
        (out / relative).unlink()
