"""The ONE reader of a schema's channel/stride table (``x-otxgen.channels``, measured by ``otxgen.extract.channels``).

Pure, no torch: shapes' static tier, validate's channel check and build's planner all ask it, so they
agree on ``out_indices`` (normalised here only), ``dense_args`` and ``shape_args``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otxgen.facts.arguments import LEVEL_COUNT_ARGS

if TYPE_CHECKING:
    from otxgen.schema.resolve import Catalog


@dataclass(frozen=True)
class Unknown:
    """Why the table does not give the outputs for these arguments."""

    reason: str


Rows = list[dict[str, Any]]  # {"channels", "stride", "ndim"} per output


def plain(value: Any) -> Any:
    """JSON-like: tuples as lists, keys as strings (for comparisons and cache keys)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def same(left: Any, right: Any) -> bool:
    """Equal as config values (a tuple equals a list): codemods' one definition."""
    from otxgen.facts.values import same_value

    return same_value(left, right)


def normalised_indices(out_indices: Any, count: int) -> list[int] | None:
    """``out_indices`` (an int or a sequence, negatives from the end) as stage positions, or None when
    they are not integers in range."""
    raw = [out_indices] if isinstance(out_indices, int) and not isinstance(out_indices, bool) else out_indices
    if not isinstance(raw, (list, tuple)) or not raw:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        return None
    resolved = [i + count if i < 0 else i for i in raw]
    return resolved if all(0 <= i < count for i in resolved) else None


class ChannelTable:
    """A schema's table, asked about one backbone's arguments (``{"type": ..., **args}``)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.block: dict[str, Any] | None = (schema.get("x-otxgen") or {}).get("channels")
        self.properties: dict[str, Any] = schema.get("properties", {})

    def timm_blocks(self) -> list[int]:
        """For a single-stride timm model (a ViT), timm's block numbers of the levels the table counts
        (``out_indices`` counts those levels, not blocks); empty for any other."""
        if not (self.block or {}).get("single_stride"):
            return []
        return [int(row["index"]) for row in (self.block or {}).get("timm_levels") or []]

    @classmethod
    def for_config(cls, backbone: dict[str, Any], library: str | None, catalog: Catalog) -> _Bound:
        """The table of a config's backbone (its type resolved in the config's library); for a wrapper
        of a timm model by name (``TIMMBackbone``), the table of that timm model."""
        from otxgen.schema.resolve import resolve_type

        resolved = resolve_type(str(backbone.get("type", "")), library, catalog)
        schema = catalog.schema(resolved.type) if resolved.type is not None else {}
        return _Bound(cls.of(backbone, schema, catalog), backbone)

    @classmethod
    def of(cls, backbone: dict[str, Any], schema: dict[str, Any], catalog: Catalog | None) -> ChannelTable:
        """The table that says this backbone's outputs: its schema's, or the timm model's it wraps."""
        if catalog is not None and str(schema.get("title", "")).rpartition(".")[2] == TIMM_WRAPPER:
            wrapped = _timm_schema(backbone, catalog)
            if wrapped is not None:
                return TimmLevels(wrapped)
        return cls(schema)

    def _args(self, backbone: dict[str, Any]) -> dict[str, Any]:
        """The arguments that can change the outputs (``out_indices`` not, where the backbone ignores it)."""
        ignored = ("type", "_delete_", "out_indices") if self._ignores_out_indices else ("type", "_delete_")
        return {k: v for k, v in backbone.items() if k not in ignored}

    @property
    def _ignores_out_indices(self) -> bool:
        return bool((self.block or {}).get("out_indices_ignored"))

    def _option(self, args: dict[str, Any]) -> str:
        key = (self.block or {}).get("key")
        if key is None:
            return "default"
        return str(args.get(key, self.properties.get(key, {}).get("default")))

    def _changed(self, args: dict[str, Any]) -> set[str]:
        """The arguments set to other than their default (or than the default scoped, as a swap into
        another library's config writes it: ``scoped_defaults``)."""
        scoped = (self.schema.get("x-otxgen") or {}).get("scoped_defaults") or {}
        return {
            n
            for n, v in args.items()
            if not ("default" in self.properties.get(n, {}) and same(v, self.properties[n]["default"]))
            and not (n in scoped and same(v, scoped[n]))
        }

    def stages(self, backbone: dict[str, Any]) -> Rows | None:
        """Every stage (channels, stride; index = out_index) of the arch option these arguments select;
        None where there is no table, or ``out_indices`` selects nothing. A single-stride backbone given
        another count of blocks (``LEVEL_COUNT_ARGS``: BEiT's ``num_layers=24``) has that many levels."""
        if not self.block or self._ignores_out_indices:
            return None
        args = self._args(backbone)
        table: Rows | None = self.block["table"].get(self._option(args))
        count = self._level_count(args, table or [])
        return table if count is None else [dict(table[0]) for _ in range(count)] if table else None

    def _level_count(self, args: dict[str, Any], table: Rows) -> int | None:
        """The number of levels a ``LEVEL_COUNT_ARGS`` argument sets here, where it is set to other than
        its default and that default is the number of the table's levels, all alike (a ViT's blocks)."""
        if not table or any(row != table[0] for row in table):
            return None
        for name in sorted(LEVEL_COUNT_ARGS & self._changed(args) & set((self.block or {}).get("shape_args", []))):
            default, value = self.properties.get(name, {}).get("default"), args[name]
            if default == len(table) and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    def reaches_the_last_stage(self, backbone: dict[str, Any]) -> bool:
        """Whether the outputs of these arguments include their arch's last stage, as the table says: a
        model reading every output then has every stage on its way (nothing to measure, see
        ``shapes.unreached_parameters``); False where the table cannot say."""
        stages = self.stages(backbone)
        if not stages or isinstance(self.outputs(backbone), Unknown):
            return False
        indices = self._selected(self._args(backbone), len(stages))
        return indices is not None and bool(indices) and max(indices) == len(stages) - 1

    def _selected(self, args: dict[str, Any], count: int) -> list[int] | None:
        """The stage positions ``out_indices`` (given, else the signature's default) select of ``count``."""
        default = (self.block or {}).get("default_out_indices")
        return normalised_indices(args.get("out_indices", list(range(count)) if default is None else default), count)

    @property
    def measured_container(self) -> str | None:
        """The form the forward returns its outputs in at default arguments: a tuple, a list or one tensor."""
        measured = (self.block or {}).get("container")
        return measured if isinstance(measured, str) else None

    def container(self, rows: Rows) -> str | None:
        """The form these outputs (``outputs``' rows) come in: the measured form, which a class keeps for
        any arguments, except that a backbone measured giving one tensor may give a tuple of several
        (SSDVGG returns a lone output bare)."""
        measured = self.measured_container
        return None if measured == "tensor" and len(rows) > 1 else measured

    def outputs(self, backbone: dict[str, Any]) -> Rows | Unknown:
        """The outputs these arguments give, one row each, or why the table does not say."""
        block = self.block
        if not block:
            return Unknown("the schema has no channel table for this backbone")
        # an argument the schema does not know is validate's finding, not a change of shape
        args = {name: value for name, value in self._args(backbone).items() if name in self.properties}
        changed = self._changed(args)
        dense: dict[str, Any] = block.get("dense_args") or {}
        moved = sorted(changed & set(block.get("shape_args", [])) - set(dense))
        if moved:
            return Unknown(f"{', '.join(moved)} set, which may change the outputs (channels or strides)")
        option = self._option(args)
        if option not in block["table"]:
            key = str(block.get("key"))
            value = args.get(key, self.properties.get(key, {}).get("default"))
            return Unknown(f"no channel table entry for {key}={value!r}")
        defaults = (block.get("defaults") or {}).get(option)
        if defaults is not None and not changed & ({"out_indices"} | set(dense)):
            return [dict(row) for row in defaults]
        if not all(same(args.get(k, self.properties.get(k, {}).get("default")), v) for k, v in dense.items()):
            wanted = ", ".join(f"{name}={value!r}" for name, value in dense.items())
            return Unknown(f"the channel table assumes {wanted} (feature maps, not pooled vectors)")
        if dense and "out_indices" not in changed:
            return Unknown("the default out_indices may count stages the table did not measure")
        table = block["table"][option]
        given = args.get("out_indices") if "out_indices" in changed else None
        if any(isinstance(i, int) and i < 0 for i in ([given] if isinstance(given, int) else given or ())):
            return Unknown(
                f"out_indices {given!r} count from the end, which only some backbones do (mmdet's ResNet not)"
            )
        indices = self._selected(args, len(table))
        if indices is None:
            return Unknown(f"out_indices {args.get('out_indices')!r} do not fit the {len(table)} stages of the table")
        if len(set(indices)) < len(indices):  # mmpretrain's ConvNeXt gives a stage once, timm's wrapper twice
            return Unknown(f"out_indices {args.get('out_indices')!r} name a stage twice: a backbone may give it once")
        if indices != sorted(indices):  # ConvNeXt gives its stages in stage order, Fast-SCNN as listed
            return Unknown(
                f"out_indices {args.get('out_indices')!r} are out of stage order: a backbone may give them in order"
            )
        return [dict(table[i], ndim=4) for i in indices]


# mmpretrain's (and mmseg's) wrapper of ``timm.create_model(model_name, features_only=..., out_indices=...)``:
# its out_indices are timm's own feature levels.
TIMM_WRAPPER = "TIMMBackbone"


def _timm_schema(backbone: dict[str, Any], catalog: Catalog) -> dict[str, Any] | None:
    name = backbone.get("model_name")
    if not isinstance(name, str) or f"timm.{name}" not in catalog.types() or not backbone.get("features_only"):
        return None
    return catalog.schema(f"timm.{name}")


class TimmLevels(ChannelTable):
    """A timm model's table read by timm's own level indices (``timm_levels``), as TIMMBackbone takes them."""

    def _levels(self) -> Rows:
        return [dict(row) for row in (self.block or {}).get("timm_levels") or []]

    def stages(self, backbone: dict[str, Any]) -> Rows | None:
        return self._levels() or None

    def reaches_the_last_stage(self, backbone: dict[str, Any]) -> bool:
        """Whether ``out_indices`` takes timm's last feature level (a features net may compute its blocks
        past the deepest level taken: EfficientNet's do)."""
        levels = [row["index"] for row in self._levels()]
        raw = backbone.get("out_indices", levels)
        wanted = [raw] if isinstance(raw, int) else raw
        return bool(levels) and isinstance(wanted, (list, tuple)) and levels[-1] in wanted

    def outputs(self, backbone: dict[str, Any]) -> Rows | Unknown:
        levels = {row["index"]: row for row in self._levels()}
        if not levels:
            return Unknown("the timm schema has no level table")
        raw = backbone.get("out_indices", list(levels))
        wanted = [raw] if isinstance(raw, int) else raw
        if not isinstance(wanted, (list, tuple)) or not all(i in levels for i in wanted):
            return Unknown(f"out_indices {raw!r} are not among timm's feature levels {sorted(levels)}")
        return [{"channels": levels[i]["channels"], "stride": levels[i]["stride"], "ndim": 4} for i in wanted]

    def _changed(self, args: dict[str, Any]) -> set[str]:
        return {"out_indices"} & set(args)

    @property
    def measured_container(self) -> str | None:
        """Unknown: the wrapper's own (mmpretrain's returns a tuple, mmseg's timm's list), not the table's."""
        return None


@dataclass(frozen=True)
class _Bound:
    table: ChannelTable
    backbone: dict[str, Any]

    def strides(self) -> list[int] | None:
        """The output strides, from the stage table: a stage's stride depends on the arch option and
        ``out_indices``, not on width or depth multipliers; arguments that do move strides (``strides``,
        ``dilations``, ``output_stride``...) make them unknown."""
        table = self.table
        args = table._args(self.backbone)
        if any("stride" in name or "dilation" in name for name in table._changed(args)):
            return None
        stages = table.stages(self.backbone)
        if not stages or table.block is None:
            return None
        indices = (
            normalised_indices(args.get("out_indices", list(range(len(stages)))), len(stages))
            if isinstance(table, TimmLevels)
            else table._selected(args, len(stages))
        )
        strides = [stages[i].get("stride") for i in indices or []]
        return (
            [int(s) for s in strides if isinstance(s, int)]
            if indices and all(isinstance(s, int) for s in strides)
            else None
        )
