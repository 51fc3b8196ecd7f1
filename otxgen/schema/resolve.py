"""Which committed schema a backbone ``type`` means: the catalog (passed in, so that tests can hand-write
one) and the one resolver of a type as written, scoped or not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from otxgen.facts.libraries import canonical_library
from otxgen.facts.words import did_you_mean


class Catalog(Protocol):
    """The committed schemas: every known type, the excluded ones, and one schema by type."""

    def types(self) -> Sequence[str]: ...

    def excluded(self) -> dict[str, str]: ...

    def schema(self, backbone_type: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Resolved:
    """``type`` is the full ``LIB.Name`` when known; else ``problem`` says why, as an error or a note."""

    type: str | None
    problem: str = ""
    is_note: bool = False


def resolve_type(raw: str, library: str | None, catalog: Catalog, custom: Sequence[str] = ()) -> Resolved:
    """``raw`` as written (``'ResNet'``, ``'mmdet.ResNet'``) -> the catalog's type, or the problem."""
    known = catalog.types()
    prefix, dot, name = raw.rpartition(".")
    if dot:
        library = canonical_library(prefix)
        if library is None:
            return Resolved(None, f"{CANNOT_PREFIX} scope {prefix!r} is not a library otxgen knows", True)
    if library and not any(t.startswith(f"{library}.") for t in known):
        return Resolved(None, f"{CANNOT_PREFIX} the schemas hold no {library} backbones", True)
    candidates = [f"{library}.{name}"] if library else [t for t in known if t.rpartition(".")[2] == name]
    found = [t for t in candidates if t in known]
    if len(found) == 1:
        return Resolved(found[0])
    excluded = catalog.excluded()
    for candidate in candidates or [t for t in excluded if t.rpartition(".")[2] == name]:
        if candidate in excluded:
            return Resolved(None, f"{CANNOT_PREFIX} {candidate} has no schema ({excluded[candidate]})", True)
    if found:
        return Resolved(None, f"type {raw!r} is ambiguous: scope it as one of {', '.join(sorted(found))}")
    if custom:
        return Resolved(
            None, f"{CANNOT_PREFIX} {raw!r} is not in the schemas (custom_imports: {', '.join(custom)})", True
        )
    elsewhere = [t for t in known if t.rpartition(".")[2] == name]
    hint = (
        f"; did you mean {elsewhere[0]!r}?" if elsewhere else did_you_mean(candidates[0] if candidates else raw, known)
    )
    if not library and not hint:
        return Resolved(None, f"{CANNOT_PREFIX} {raw!r} is in no schema and the config does not say its library", True)
    where = f" in {library}" if library and not dot else ""
    return Resolved(None, f"unknown backbone type {raw!r}{where}{hint}")


CANNOT_PREFIX = "cannot check statically:"
