"""YAML text -> ``Located``: plain values plus the 1-based position of every key and value.

``yaml.compose`` gives nodes with marks; this module walks them itself so that it can refuse what
``yaml.safe_load`` would silently accept or choke on: duplicate keys (the last one would win), alias
bombs (a few lines expanding to millions of nodes), recursive aliases, deep nesting and non-mapping
roots, and tags that a loader would turn into Python objects (``!!python/object``, ``!!python/name``, a
local ``!tag``): mmcv's loader would build them, otxgen cannot see what they mean. ``!!python/tuple``,
which mmcv's dumper writes for every tuple (OTX 1.x backbone files), is read as a tuple.

With ``literal`` (``backbone.yaml`` and ``--set``: values build writes into a Python config) it
also refuses what a config cannot spell as a literal: timestamps, binary, sets and ordered maps, and
non-finite numbers (``.nan``, ``.inf``: written out, ``nan`` is a NameError for mmengine).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from otxgen.config.located import JsonPath, Located, Where
from otxgen.errors import InputError

MAX_NODES = 100_000  # expanded nodes, aliases counted each time they are used
# Levels of nested collections. Backbone arguments nest about five; a value this deep still renders
# into a config that ``otxgen.facts.pysource.MAX_DEPTH`` accepts, and the walk (recursive) stays shallow.
MAX_DEPTH = 50
MERGE_TAG = "tag:yaml.org,2002:merge"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
TUPLE_TAG = _CORE + "python/tuple"
LITERAL_TAGS = frozenset(_CORE + kind for kind in ("str", "int", "float", "bool", "null", "seq", "map", "python/tuple"))


def load_located(text: str, file: str, *, literal: bool = False) -> Located:
    """Parse one YAML document whose root is a mapping; every problem is an ``InputError`` with a position.
    ``literal``: refuse values a Python config cannot hold as literals (see the module docstring)."""
    located = _load(text, file, literal, mapping=True)
    if located is None:
        raise InputError("empty file: expected a mapping", file)
    return located


def load_value(text: str, file: str) -> Any:
    """One YAML value of any kind (``--set KEY=VALUE``), held to the same rules as ``literal`` files;
    an empty document is ``None``."""
    located = _load(text, file, True, mapping=False)
    return None if located is None else located.value


def _load(text: str, file: str, literal: bool, *, mapping: bool) -> Located | None:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        if mapping and not isinstance(root, yaml.MappingNode):
            raise InputError(f"expected a mapping at the top level, found {_kind(root)}", file, *_start(root))
        located = Located(None)
        located.value = _Walker(loader, file, located, literal).walk(root, ())
        return located
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        cause = ", ".join(part for part in (error.context, error.problem) if part)
        raise InputError(f"invalid YAML: {cause}", file, line, col) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {error}", file) from None
    except RecursionError:  # PyYAML's pure-Python composer, where libyaml is missing, recurses
        raise InputError(f"nested too deeply (more than {MAX_DEPTH} levels)", file) from None
    finally:
        loader.dispose()


def _start(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _kind(node: yaml.Node) -> str:
    return {yaml.ScalarNode: "a scalar", yaml.SequenceNode: "a sequence"}.get(type(node), "a mapping")


class _Walker:
    """Turns a node graph into values while recording positions and counting expanded nodes."""

    def __init__(self, loader: yaml.SafeLoader, file: str, located: Located, literal: bool) -> None:
        self.loader, self.file, self.located, self.literal = loader, file, located, literal
        self.count = 0
        self.open: set[int] = set()  # ids of the collection nodes being walked: a repeat is a cycle

    def walk(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)", self.file, *_start(node))
        self.located.values[path] = Where(self.file, *_start(node))
        if len(path) > MAX_DEPTH:
            raise InputError(f"nested too deeply (more than {MAX_DEPTH} levels)", self.file, *_start(node))
        self._check_tag(node)
        if self.literal:
            self._check_literal(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.open:
            raise InputError("recursive alias", self.file, *_start(node))
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = [self.walk(item, (*path, index)) for index, item in enumerate(node.value)]
                return tuple(items) if node.tag == TUPLE_TAG else items
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _check_tag(self, node: yaml.Node) -> None:
        if node.tag == TUPLE_TAG and isinstance(node, yaml.SequenceNode):
            return
        if node.tag.startswith(_CORE) and not node.tag.startswith(_CORE + "python/"):
            return
        shown = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
        message = f"the tag {shown} makes a YAML loader build a Python object, which otxgen does not read"
        raise InputError(
            message + "; write the value as plain YAML (only !!python/tuple on a sequence is read)",
            self.file,
            *_start(node),
        )

    def _check_literal(self, node: yaml.Node) -> None:
        if node.tag in LITERAL_TAGS:
            return
        kind = node.tag.removeprefix(_CORE)
        shown = f"{node.value!r} is a YAML {kind}" if isinstance(node, yaml.ScalarNode) else f"a YAML !!{kind}"
        hint = "quote it to keep it as text" if isinstance(node, yaml.ScalarNode) else "use a list or a mapping"
        raise InputError(f"{shown}, which a config cannot hold as a literal; {hint}", self.file, *_start(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = self.loader.construct_object(node)
        if self.literal and isinstance(value, float) and not math.isfinite(value):
            message = f"{node.value} is not a finite number; a config cannot spell nan or infinity as a literal"
            raise InputError(message, self.file, *_start(node))
        return value

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        # Merged entries first, so that explicit keys overwrite their values and positions.
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                result.update(self._merge(value_node, path))
        explicit: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self._key(key_node)
            if key in explicit:
                first = self.located.keys[(*path, key)]
                raise InputError(f"duplicate key {key!r} (first at line {first.line})", self.file, *_start(key_node))
            explicit.add(key)
            self.located.keys[(*path, key)] = Where(self.file, *_start(key_node))
            result[key] = self.walk(value_node, (*path, key))
        return result

    def _merge(self, node: yaml.Node, path: JsonPath) -> dict[str, Any]:
        """``<<: *base`` or ``<<: [*a, *b]``: earlier mappings win, explicit keys win over all."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise InputError("a merge key '<<' needs a mapping or a list of mappings", self.file, *_start(source))
            merged.update(self._mapping(source, path))
        return merged

    def _key(self, node: yaml.Node) -> str:
        key = self.loader.construct_object(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            shown = "a collection" if key is None and not isinstance(node, yaml.ScalarNode) else repr(key)
            raise InputError(f"mapping keys must be strings, found {shown}", self.file, *_start(node))
        return key
