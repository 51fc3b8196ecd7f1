"""The shape probes' disk cache: ``${OTXGEN_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/otxgen}/shapes/``,
one JSON file per (backbone arguments, tier, input size, library / torch / otxgen versions), so a library
upgrade invalidates it. A cache that cannot be read or written only costs speed."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from otxgen.facts.libraries import DISTRIBUTIONS, split_type

FORMAT = 5  # 3: a fixed-size model is probed at its own size (or the img_size given); 4: the container;
# 5: a container holding tuples or lists is "nested"
# The forward of otxgen's own wrappers, by library: a change to one invalidates its probes alone (2: the
# torchvision and pytorchcv wrapper gives a map per out_indices entry, a stage asked twice twice).
WRAPPERS = {"torchvision": 2, "pytorchcv": 2}


def cache_dir() -> Path:
    environ = os.environ
    return _cache_dir(environ.get("OTXGEN_CACHE_DIR"), environ.get("XDG_CACHE_HOME"), environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _cache_dir(own: str | None, xdg: str | None, home: str | None) -> Path:
    """The folder for these variables (a swap looks a probe up several times: made once, not each time)."""
    cache = xdg or (os.path.join(home, ".cache") if home else os.path.expanduser("~/.cache"))
    root = own or os.path.join(cache, "otxgen")
    return Path(root) / "shapes"


@functools.cache
def installed_version(distribution: str) -> str:
    """The installed version of a distribution or library name: from the name of its ``.dist-info``
    folder on ``sys.path`` (``name-version.dist-info``, as installers write it), else from its metadata
    (an egg, a zipped install). Read once a process, importing nothing: importing ``importlib.metadata``
    and parsing the metadata cost a static swap 50 ms, as much as its plan."""
    name = DISTRIBUTIONS.get(distribution, distribution)
    found = _dist_info_versions().get(_normalized(name))
    if found:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


@functools.cache
def _dist_info_versions() -> dict[str, str]:
    """Project name (normalised) -> version, from the ``.dist-info`` folders on ``sys.path`` (the first wins,
    as an import would)."""
    versions: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".dist-info"):
                project, _, found = folder.removesuffix(".dist-info").partition("-")
                versions.setdefault(_normalized(project), found)
    return versions


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def key(backbone_cfg: dict[str, Any], tier: str, input_size: int | None, library: str | None = None) -> str:
    """The cache key of one probe; ``backbone_cfg`` holds plain JSON values and a ``LIB.Name`` type, or
    the type as ``library``'s registry names it (a neck's ``FPN``)."""
    library = library or split_type(str(backbone_cfg.get("type", "")))[0]
    payload = {
        "format": FORMAT,
        "cfg": backbone_cfg,
        "tier": tier,
        "input_size": input_size,
        "library_version": installed_version(library),
        **({"wrapper": WRAPPERS[library]} if library in WRAPPERS else {}),
        **{name: installed_version(name) for name in ("torch", "otxgen")},
    }
    import hashlib  # with OpenSSL: loaded where a probe is looked up, not on every import

    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()[:32]


# The entries read, kept a process: a key names its content (the probe's arguments and every version),
# so an entry found never changes; a swap reads the same probes several times (each side it is fed at).
_READ: dict[tuple[Path, str], dict[str, Any]] = {}
_READ_KEPT = 1024


def read(cache_key: str) -> dict[str, Any] | None:
    """The entry of ``cache_key``, or None; callers only read it."""
    directory = cache_dir()
    if (directory, cache_key) in _READ:
        return _READ[directory, cache_key]
    try:
        data: dict[str, Any] = json.loads((directory / f"{cache_key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if len(_READ) >= _READ_KEPT:
        _READ.clear()
    _READ[directory, cache_key] = data
    return data


def write(cache_key: str, data: dict[str, Any]) -> None:
    directory = cache_dir()
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(temp, directory / f"{cache_key}.json")
    except OSError:  # a read-only or full cache only costs speed
        pass
