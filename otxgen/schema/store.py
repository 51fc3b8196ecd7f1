"""Read the committed schemas (``schemas/`` in a checkout, ``otxgen/schemas`` when installed). No torch.

The schemas live in the package ``otxgen.schemas``; pyproject maps it to the repository's top-level
``schemas/`` folder, so a checkout, an editable install and a wheel all load them with
``importlib.resources``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from otxgen.errors import UsageError
from otxgen.facts.libraries import LIBRARIES, split_type

PACKAGE = "otxgen.schemas"
INDEX = "index.json"


def schemas_root() -> Traversable:
    """The folder holding ``index.json`` and ``<lib>/<Name>.json``."""
    return resources.files(PACKAGE)


@cache
def load_index() -> dict[str, Any]:
    """``schemas/index.json`` (see ``otxgen.schema`` for its format)."""
    return _read_json(schemas_root().joinpath(INDEX))


@cache
def _load_schema_text(library: str, name: str) -> str:
    path = schemas_root().joinpath(library).joinpath(f"{name}.json")
    if not path.is_file():
        raise UsageError(f"no schema for backbone type '{library}.{name}'")
    return path.read_text(encoding="utf-8")


def load_schema(backbone_type: str) -> dict[str, Any]:
    """The schema of ``LIB.Name`` (aliases such as ``mmcls.X`` allowed); a fresh dict on every call."""
    library, name = split_type(backbone_type)
    data: dict[str, Any] = json.loads(_load_schema_text(library, name))
    return data


@lru_cache(maxsize=128)  # a run over every type (the matrix) holds the last ones, not 17 MB of JSON parsed
def shared_schema(backbone_type: str) -> dict[str, Any]:
    """``load_schema`` parsed once a process, for readers that never change it (the checks, the static
    table): a swap reads the same schema from several places, and a loop over configs reads few types."""
    return load_schema(backbone_type)


@cache
def _types() -> tuple[str, ...]:
    """Every type with a committed schema, in the index's order (by library, then name): read from the
    names of the schema files, so that a swap of one config does not parse the 1.2 MB index for them
    (a sixth of its work). The schema export writes both; a test holds them equal."""
    root = schemas_root()
    return tuple(
        f"{library}.{name}"
        for library in LIBRARIES
        if root.joinpath(library).is_dir()
        for name in sorted(
            entry.removesuffix(".json") for entry in _names_in(root.joinpath(library)) if entry.endswith(".json")
        )
    )


def _names_in(folder: Traversable) -> list[str]:
    """The names in a folder of the package: read as names where it is a folder on disk (an installed
    package: 1,900 path objects were a twentieth of a swap's process), else through the resource reader."""
    if isinstance(folder, os.PathLike):
        return os.listdir(folder)
    return [entry.name for entry in folder.iterdir()]


def starting_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments a backbone starts from: the first configuration its library's shipped configs
    give (the schema's root ``examples``, every argument of it but the type) where there is one; else
    each required argument at its first option, or its first example where it has none (HRNet's
    ``extra``), or None where it has neither (the user must enter it)."""
    if schema.get("examples"):
        return {name: value for name, value in schema["examples"][0].items() if name != "type"}
    properties = schema["properties"]
    starting = {}
    for name, options in schema["x-otxgen"]["required_args"].items():
        examples = properties[name].get("examples")
        starting[name] = options[0] if options else examples[0] if examples else None
    return starting


def schema_text(backbone_type: str) -> str:
    """The committed schema file of ``LIB.Name``, as text (what a workspace keeps a copy of)."""
    return _load_schema_text(*split_type(backbone_type))


def schema_path(backbone_type: str) -> str:
    """The schema's path relative to the schemas folder, e.g. ``mmdet/ResNet.json``."""
    library, name = split_type(backbone_type)
    return f"{library}/{name}.json"


def _read_json(path: Traversable) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class StoreCatalog:
    """The committed schemas as ``validate`` and ``build`` use them (the ``Catalog`` protocol of
    ``otxgen.validate.backbones``): every type, the excluded ones, one schema by type; each read once a
    process, and only read."""

    def index(self) -> dict[str, Any]:
        return load_index()

    def types(self) -> Sequence[str]:
        return _types()

    def excluded(self) -> dict[str, str]:
        libraries = self.index().get("libraries", {})
        return {
            f"{lib}.{name}": why for lib, info in libraries.items() for name, why in info.get("excluded", {}).items()
        }

    def schema(self, backbone_type: str) -> dict[str, Any]:
        return shared_schema(backbone_type)  # read-only for the checks
