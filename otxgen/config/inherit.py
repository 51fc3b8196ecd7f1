"""A model config merged over its ``_base_`` files, read statically: no file is ever executed.

mmengine's semantics (``Config._file2dict``): each base file is itself resolved over its own bases; the
bases are combined in list order; then the child is merged in: dicts merge recursively, a child dict
with ``_delete_=True`` replaces the base's (the key is consumed only when the base has that key), and
lists and every other value replace.

Bases that set the same top-level name are refused by mmengine, but OTX 1.x templates list them (a
recipe, a YAML backbone, a detector base that all set ``model``), and OTX 1.x's loader merged them: what
the bases before have gathered is merged into the next one, so on a conflict the earlier base wins,
dicts merging recursively. otxgen reads such a chain the same way, with a note at the ``_base_`` entry.

Positions follow the values: what the child sets keeps the child's position, what only a base file sets
points into that base file. Reading is the caller's job (``read``). A base that otxgen does not follow
(``package::path``, a loop, a ``_base_`` that is not literal, ``read_base()``) makes ``inherit`` return
why instead of a merged config; a base that cannot be read or parsed at all (missing, not a regular
file, not UTF-8, invalid Python/YAML/JSON) is an ``InputError`` at the ``_base_`` entry that names it,
since mmengine could not load the config either.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from otxgen.config.located import JsonPath, Located, Where
from otxgen.config.model_config import ConfigFacts, base_entries, read_config
from otxgen.errors import InputError

Reader = Callable[[str], str]  # a base file's path (joined onto the config's folder) -> its text
_DELETE = "_delete_"
_T = TypeVar("_T")


class _UnfollowableError(Exception):
    """Why the ``_base_`` chain cannot be followed statically."""


class _UnreadableError(Exception):
    """A base file that cannot be read or parsed (mmengine would fail on it too)."""


class BaseFiles:
    """The ``_base_`` files of one run, read through ``read``; each is read, parsed and merged once.

    Keep one per run (files are assumed not to change during it)."""

    def __init__(self, read: Reader) -> None:
        self.read = read
        self._done: dict[str, tuple[Located, list[str], list[Note]]] = {}

    def resolved(self, path: str, seen: frozenset[str]) -> tuple[Located, list[str], list[Note]]:
        """The base file at ``path`` merged over its own chain, that chain's files, and its notes."""
        if path not in self._done:
            parent = _load(path, self.read)
            if parent.read_base:
                raise _UnfollowableError(f"_base_ file {path} uses read_base() imports (not followed)")
            if parent.failing:  # mmengine's run of the base stops there: nor does any config built on it load
                at, why = parent.failing[0]
                raise _UnreadableError(f"{path}:{at.line}:{at.col}: {why}")
            if parent.opaque:
                first = parent.opaque[0]
                where = f"{path}:{first.where.line}:{first.where.col}"
                raise _UnfollowableError(f"_base_ file {where} holds {first.code!r}, which {first.why}: not followed")
            refused: list[Note] = []
            names, files, _, notes = _resolved(parent, self, seen | {path}, refused, kept=True)
            if refused:  # mmengine cannot load the base: nor any config built on it
                at, why = refused[0]
                raise _UnreadableError(f"{path}:{at.line}:{at.col}: {why}")
            self._done[path] = (names, files, notes)
        return self._done[path]


def inherit(facts: ConfigFacts, bases: BaseFiles) -> ConfigFacts | str:
    """``facts`` merged over its whole ``_base_`` chain (``bases`` then lists every file of the chain),
    or why that chain cannot be followed."""
    try:
        refused: list[Note] = []
        names, files, base, notes = _resolved(facts, bases, frozenset({posixpath.normpath(facts.file)}), refused)
    except _UnfollowableError as why:
        return str(why)
    except RecursionError:
        return "the _base_ chain is too long to follow"
    own_model = facts.get("model")
    fresh = isinstance(own_model, dict) and bool(own_model.get(_DELETE))
    return ConfigFacts(
        facts.file,
        names,
        facts.read_base,
        [*facts.bases, *files],
        facts.opaque,
        None if fresh else base,
        facts.undefined,
        [*facts.notes, *notes],
        refused,
        facts.failing,
    )


# the names mmengine puts in a config's text before reading it
_PREDEFINED = re.compile(r"\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtension)\s*\}\}")


def base_path(config: str, entry: str) -> str:
    """A ``_base_`` entry joined onto the folder of ``config``, normalised, with the names mmengine
    puts in a config's text (``{{fileDirname}}``...) put in first (the folder as ``.``: the entry is
    joined onto it)."""
    folder, name = posixpath.split(config)
    stem, suffix = posixpath.splitext(name)
    values = {
        "fileDirname": ".",
        "fileBasename": name,
        "fileBasenameNoExtension": stem,
        "fileExtension": suffix,
    }
    entry = _PREDEFINED.sub(lambda found: values[found.group(1)], entry)
    return posixpath.normpath(posixpath.join(folder, entry))


Note = tuple[Where, str]
_Sub = tuple[str, str, Where, tuple[Located, list[str], list[Note]]]  # entry, path, its position, resolved
# The bases of a config combined, kept per process by the identity of what they were combined from
# (parsed files are cached by path and text, so the same text gives the same objects): the chains of
# _base_ files that many configs share are merged once. The objects are held in the entries, so an
# identity is never reused while its entry lives.
_FOLDS: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], Located, list[str], list[Note]]] = OrderedDict()
_FOLDS_KEPT = 256
# A base file merged over its combined bases, kept the same way (by the identities of both): a base's
# facts are cached by text, so the same files give the same merge, and the folds above it hit too.
_MERGES: OrderedDict[tuple[int, int], tuple[Located, Located, Located, list[Note]]] = OrderedDict()


def _resolved(
    facts: ConfigFacts,
    bases: BaseFiles,
    seen: frozenset[str],
    refused: list[Note] | None = None,
    kept: bool = False,
) -> tuple[Located, list[str], Located, list[Note]]:
    """``facts`` merged over its chain, the chain's files, what the chain alone gives, and the notes;
    ``refused`` gets what mmengine refuses in merging ``facts`` over the chain (``merge``). ``kept``:
    ``facts`` are a base file's (cached by text), so the merge is kept for the next config built on it."""
    if ("_base_",) in facts.names.unresolved:
        raise _UnfollowableError(f"_base_ in {facts.file} is not a literal: {facts.names.unresolved[('_base_',)]}")
    subs: list[_Sub] = []
    for entry in facts.bases:
        if "::" in entry:
            raise _UnfollowableError(f"_base_ {entry!r} is in another package (not followed)")
        path = base_path(facts.file, entry)
        if path in seen:
            raise _UnfollowableError(f"_base_ {entry!r} of {facts.file} loops back to {path}")
        where = facts.names.where(_entry_path(facts, entry))
        try:
            subs.append((entry, path, where, bases.resolved(path, seen)))
        except _UnreadableError as why:
            raise InputError(f"_base_ file {why}", where.file, where.line, where.col) from None
    if not subs:
        return facts.names, [], Located({}), []
    key = tuple((entry, where, id(resolved[0])) for entry, _, where, resolved in subs)
    if key not in _FOLDS:
        _FOLDS[key] = (tuple(sub[3][0] for sub in subs), *_fold(subs))
        while len(_FOLDS) > _FOLDS_KEPT:
            _FOLDS.popitem(last=False)
    _FOLDS.move_to_end(key)
    _, combined, files, notes = _FOLDS[key]
    merged = _kept_merge(combined, facts.names, refused) if kept else merge(combined, facts.names, refused)
    return merged, list(files), combined, list(notes)


def _kept_merge(base: Located, child: Located, refused: list[Note] | None) -> Located:
    """``merge``, once a process for the same two objects (``_MERGES``)."""
    key = (id(base), id(child))
    if key not in _MERGES:
        said: list[Note] = []
        _MERGES[key] = (base, child, merge(base, child, said), said)
        while len(_MERGES) > _FOLDS_KEPT:
            _MERGES.popitem(last=False)
    _MERGES.move_to_end(key)
    _, _, merged, said = _MERGES[key]
    if refused is not None:
        refused.extend(said)
    return merged


def _fold(subs: list[_Sub]) -> tuple[Located, list[str], list[Note]]:
    """The bases combined in list order: mmengine's ``dict.update`` where they set different names; where
    one sets a name a base before it set, OTX 1.x's merge (the bases before win, dicts merge)."""
    combined, files, notes = Located({}), [], []
    for entry, path, where, (names, deeper, deeper_notes) in subs:
        shared = sorted(_top_names(combined) & _top_names(names))
        if shared:
            said = ", ".join(repr(name) for name in shared)
            why = "merged as OTX 1.x merges bases (the earlier base wins, dicts merge); mmengine itself refuses"
            notes.append(
                (
                    where,
                    f"{entry} sets {said} like a base before it: {why} duplicate keys among bases",
                )
            )
            combined = merge(names, combined)
        else:
            combined = _update(combined, names)
        files += [path, *deeper]
        notes += deeper_notes
    return combined, files, notes


def _top_names(located: Located) -> set[str]:
    """The names a base sets (its own ``_base_`` is how it was read, not a name it gives)."""
    return (set(located.value) | {str(path[0]) for path in located.unresolved if len(path) == 1}) - {"_base_"}


def _entry_path(facts: ConfigFacts, entry: str) -> JsonPath:
    """Where ``entry`` is written: its item of a ``_base_`` list, or ``_base_`` itself."""
    raw = facts.get("_base_")
    return ("_base_", raw.index(entry)) if isinstance(raw, list) else ("_base_",)


def _load(path: str, read: Reader) -> ConfigFacts:
    try:
        text = read(path)
    except OSError as error:
        raise _UnreadableError(f"{path} cannot be read: {error.strerror or error}") from None
    except ValueError as error:  # a NUL byte or a lone surrogate in the path
        raise _UnreadableError(f"{path!r} cannot be read: {error}") from None
    except InputError as error:
        raise _UnreadableError(f"{path} cannot be read: {error.cause.removeprefix('cannot read: ')}") from None
    try:
        return _read_base(path, text)
    except InputError as error:
        raise _UnreadableError(str(error)) from None  # "path:line:col: cause"
    except (RecursionError, MemoryError):
        raise _UnreadableError(f"{path} is nested too deeply to read") from None


_DATA_SUFFIXES = (".yaml", ".yml", ".json")


@functools.lru_cache(maxsize=512)
def _read_base(path: str, text: str) -> ConfigFacts:
    """``read_any`` of a ``_base_`` file, once per process for the same text: many configs share their
    bases (datasets, schedules, models), and parsing with positions is most of a static swap's cost.
    Callers never change the facts (merges copy what they change). A config read as itself is not kept
    here: an editor's buffer is a new text at each keystroke (each version's facts kept, a 3 MB buffer
    held 650 MiB after it closed)."""
    return read_any(path, text)


def read_any(path: str, text: str) -> ConfigFacts:
    """A config's facts by its suffix (Python, or YAML / JSON as mmengine reads them), the one reader of
    a config file and of its bases alike, so a file has one verdict however it is reached."""
    if path.lower().endswith(".json") and text.startswith("\ufeff"):
        raise InputError("starts with a byte order mark (U+FEFF), which mmengine's JSON reader refuses", path, 1, 1)
    return _yaml_config(text, path) if path.lower().endswith(_DATA_SUFFIXES) else read_config(text, path)


def _yaml_config(text: str, path: str) -> ConfigFacts:
    """A ``_base_`` file in YAML or JSON (mmengine reads both; OTX 1.x keeps backbones in them)."""
    from otxgen.config.yamlpos import load_located

    located = load_located(text, path)
    return ConfigFacts(path, located, False, base_entries(located))


def _update(base: Located, other: Located) -> Located:
    """Bases combined: ``other``'s top-level names replace ``base``'s (mmengine's ``dict.update``)."""
    layer = _Layer(base, other)
    for name in _child_keys(other, (), other.value):
        layer.replace((name,), layer.value, name)
    return layer.result()


def merge(base: Located, child: Located, refused: list[Note] | None = None) -> Located:
    """``child``'s module-level names merged into ``base``'s, as mmengine merges a config into its bases;
    where mmengine refuses to (a dict over a base's value of another kind, without ``_delete_``), the
    child's value is taken, and ``refused`` gets why, at the child's value."""
    layer = _Layer(base, child)
    layer.merge_dict((), layer.value, child.value)
    for path, kind in layer.clashes:
        if refused is None:
            break
        name = ".".join(map(str, path))
        refused.append(
            (
                child.where(path),
                f"{name} is a dict here, and a {kind} in a base: mmengine refuses to merge them (a TypeError as the "
                "config loads); add _delete_=True to it to replace the base's value",
            )
        )
    return layer.result()


class _Layer:
    """One merge of ``child`` over ``base``: values now, positions in one pass at the end (``result``)."""

    def __init__(self, base: Located, child: Located) -> None:
        self.base, self.child = base, child
        self.value = dict(base.value)  # copied on write along the merged paths: layers share the rest
        self.replaced: set[JsonPath] = set()  # the child's value replaces everything below these
        self.merged: set[JsonPath] = set()  # dicts merged: the child's position, the base's contents
        self.clashes: list[tuple[JsonPath, str]] = []  # a child dict over a base's non-dict: mmengine refuses it
        self._replaced_under: dict[str | int, set[JsonPath]] = {}
        self._leading: set[JsonPath] = set()  # the proper prefixes of the replaced paths

    def merge_dict(self, path: JsonPath, into: dict[str, Any], over: dict[str, Any]) -> None:
        for key in _child_keys(self.child, path, over):
            here = (*path, key)
            value = over.get(key)
            inherited = key in into or here in self.base.unresolved
            if here in self.child.unresolved or not isinstance(value, dict) or not inherited or value.get(_DELETE):
                self.replace(here, into, key)
            elif here in self.base.unresolved:  # merged into a value the base file does not say statically
                self.merged.add(here)
            elif isinstance(into[key], dict):
                self.merged.add(here)
                into[key] = dict(into[key])
                self.merge_dict(here, into[key], value)
            else:  # mmengine refuses a dict over a non-dict (``clashes``); the child's dict is what was meant
                self.clashes.append((here, type(into[key]).__name__))
                self.replace(here, into, key)

    def replace(self, path: JsonPath, into: dict[str, Any], key: str) -> None:
        """The child's value at ``path`` (or its unresolved text) replaces whatever the base had there."""
        inherited = key in into or path in self.base.unresolved
        self.replaced.add(path)
        into.pop(key, None)
        if path in self.child.unresolved:
            return
        value = _at(self.child, path)
        if inherited and isinstance(value, dict) and _DELETE in value:  # consumed only where the base has the key
            value = {name: item for name, item in value.items() if name != _DELETE}
        into[key] = value

    def result(self) -> Located:
        # The replaced paths by their first step: most paths of a config are under no replaced one; the
        # test of one that is walks its prefixes while they lead to a replaced path (``_leading``): a
        # path beside the replaced ones (the neck's, when the backbone's were) stops at its second step.
        self._replaced_under = {}
        self._leading = set()
        for path in self.replaced:
            self._replaced_under.setdefault(path[0], set()).add(path)
            self._leading.update(path[:end] for end in range(1, len(path)))
        values = self._table(self.base.values, self.child.values)
        keys = self._table(self.base.keys, self.child.keys)
        return Located(self.value, values, keys, self._table(self.base.unresolved, self.child.unresolved))

    def _table(self, mine: dict[JsonPath, _T], theirs: dict[JsonPath, _T]) -> dict[JsonPath, _T]:
        """The base's entries except where the child replaced a value, then the child's that now apply."""
        under, merged = self._replaced_under, self.merged  # most paths start under no replaced one
        table = dict(mine)
        by_start = _by_start(mine)
        for replaced in self.replaced:  # the paths that begin as it does (its first two steps)
            for path in by_start.get(replaced[:2] if len(replaced) > 1 else replaced[0], ()):
                if path in table and self._below_replaced(path):
                    del table[path]
        table.update(
            {p: item for p, item in theirs.items() if p in merged or (p and p[0] in under and self._below_replaced(p))}
        )
        return table

    def _below_replaced(self, path: JsonPath) -> bool:
        replaced, leading = self.replaced, self._leading
        for end in range(1, len(path) + 1):
            head = path[:end]
            if head in replaced:
                return True
            if head not in leading:
                return False
        return False


# The paths of a table by their first step and by their first two, kept by the table's identity: the
# tables of combined bases are shared by the configs built on them, and a merge looks only at the paths
# that begin as a path the child replaced (``model.backbone``: not the rest of the model's).
_BY_START: OrderedDict[int, tuple[dict[JsonPath, Any], dict[Any, list[JsonPath]]]] = OrderedDict()


def _by_start(table: dict[JsonPath, Any]) -> dict[Any, list[JsonPath]]:
    kept = _BY_START.get(id(table))
    if kept is None or kept[0] is not table:
        index: dict[Any, list[JsonPath]] = {}
        for path in table:
            if path:
                index.setdefault(path[0], []).append(path)
            if len(path) > 1:
                index.setdefault(path[:2], []).append(path)
        kept = _BY_START[id(table)] = (table, index)
        while len(_BY_START) > _FOLDS_KEPT:
            _BY_START.popitem(last=False)
    _BY_START.move_to_end(id(table))
    return kept[1]


def _child_keys(child: Located, path: JsonPath, over: dict[str, Any]) -> Iterator[str]:
    """The keys the child sets at ``path``: evaluated ones and unresolved ones."""
    yield from over
    for unresolved in child.unresolved:
        key = unresolved[-1] if len(unresolved) == len(path) + 1 and unresolved[:-1] == path else None
        if isinstance(key, str) and key not in over:
            yield key


def _at(located: Located, path: JsonPath) -> Any:
    value = located.value
    for part in path:
        value = value[part]
    return value
