"""Who reads a backbone's outputs, and what each needs after a swap: the ONE module of consumer facts.

Pure: plain values in (a ``model`` dict as mmengine would merge it), facts or an override out; no libcst,
no torch. ``backbone_readers`` says which consumer reads which outputs; ``level_strides`` which stride
the priors want of each level. Build's planner and codemods (``consumer_overrides``), validate's channel
check and the smoke-build's expectations all read these, so they cannot drift apart.

Who consumes the backbone's feature maps, by task (mmengine / OpenMMLab semantics):

- a neck that takes ``in_channels`` (FPN, PAFPN, YOLOXPAFPN, ChannelMapper, SSDNeck...; the first of a
  list of necks): it alone reads the backbone, and the heads read the neck;
- without such a neck, mmseg's ``decode_head`` / ``auxiliary_head`` (a dict or a list), each reading the
  levels of its ``in_index`` (default -1); a detector's ``bbox_head`` / ``rpn_head`` (SSD without a
  neck); a classifier's ``head`` reads the last output, after a pooling neck (which takes no
  ``in_channels``) or as the backbone gives it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otxgen.facts.lineage import ancestors
from otxgen.facts.values import same_value

# Necks whose output j is input ``start_level + j`` at the same stride (extra levels come after).
LEVEL_PRESERVING_NECKS = frozenset(
    {
        "FPN",  # and its subclasses (PAFPN, FPN_DropBlock): see ``known_as``
        "FPN_CARAFE",
        "NASFPN",
        "NASFCOS_FPN",
        "FPG",
        "RFP",
        "ChannelMapper",
        "YOLOXPAFPN",
        "CSPNeXtPAFPN",
        "SSH",
    }
)
# Necks that make ``num_outs`` outputs from their ``start_level`` on and assert, where ``end_level`` is -1
# (all the backbone's levels), that they have no more inputs than that: mmdet's and mmseg's FPN (and its
# subclasses: PAFPN, RFP, FPN_DropBlock), FPN_CARAFE, NASFPN, NASFCOS_FPN, FPG.
LEVEL_CAPPED_NECKS = frozenset({"FPN", "FPN_CARAFE", "NASFPN", "NASFCOS_FPN", "FPG"})
# Necks that take the backbone's channels as ``in_channels`` even where a config leaves it to a base.
IN_CHANNELS_NECKS = LEVEL_PRESERVING_NECKS | {"HRFPN", "YOLOV3Neck", "SSDNeck", "DilatedEncoder", "MultiLevelNeck"}
# Necks that make a pyramid out of single-stride levels (a ViT's) by rescaling them, with the argument
# that holds the factors and its default: output j is input j (or the one input) resized by factor j, so
# it comes at the input's stride divided by it. Fed a pyramid, they would rescale it again (strides 1,
# 4, 16, 64). mmseg registers both; a swap puts ``PYRAMID_NECK`` in front of a pyramid neck (FPN) for a
# single-stride backbone, reading one level (ViTDet's choice) or one per factor.
RESCALING_NECKS = {"MultiLevelNeck": ("scales", (0.5, 1, 2, 4)), "Feature2Pyramid": ("rescales", (4, 2, 1, 0.5))}
PYRAMID_NECK = ("mmseg", "MultiLevelNeck")
# Necks that add or stack their inputs as they come, so every input must come at one stride (a ViT's):
# SETR's MLANeck sums its levels top-down.
ONE_STRIDE_NECKS = frozenset({"MLANeck"})
# Rescaling necks with one width for their inputs and outputs (no in_channels): a backbone of another
# width gets ``PYRAMID_NECK`` in their place, at their factors and width, so the heads read what they did.
SAME_WIDTH_RESCALERS = {"Feature2Pyramid": "embed_dim"}
# SSD's neck passes its inputs through as its first outputs: ``out_channels`` starts with ``in_channels``,
# and the head reads every output.
PASS_THROUGH_NECKS = frozenset({"SSDNeck"})
# Necks whose outputs are their inputs but the last, then one fused map (FastFCN's JPU: the decode head
# reads the fused map at index n - 1, the auxiliary head a backbone level passed through): the heads that
# read a passed level read the backbone's channels there, and the count of levels is the neck's layout.
PASSING_ALL_BUT_LAST_NECKS = frozenset({"JPU"})
# Where detectors keep the strides they assume for the neck's outputs, in the order checked.
PRIOR_STRIDE_PATHS = (
    ("rpn_head", "anchor_generator", "strides"),
    ("rpn_head", "prior_generator", "strides"),
    ("bbox_head", "anchor_generator", "strides"),
    ("bbox_head", "prior_generator", "strides"),
    ("roi_head", "bbox_roi_extractor", "featmap_strides"),
    ("roi_head", "mask_roi_extractor", "featmap_strides"),
    ("bbox_head", "strides"),  # anchor-free heads (FCOS, FoveaBox...) keep them themselves
)
# Classification necks that pool a (N, C, H, W) map into (N, C), keeping C; they take no in_channels.
POOLING_NECKS = frozenset({"GlobalAveragePooling", "GeneralizedMeanPooling", "GAP"})
# The forms (``otxgen.shapes.CONTAINERS``) a backbone's first consumer takes its outputs in: mmpretrain's
# pooling necks a tuple (a list raises "neck inputs should be tuple or torch.tensor"; one tensor they pool
# and return as one tensor, of which the classifier's head takes ``feats[-1]``: the batch's last image);
# every other reader indexes levels (``inputs[i]``, ``len(inputs)``), so a tuple or a list: one tensor
# would be indexed along its batch.
POOLING_NECK_TAKES = ("tuple",)
LEVEL_READER_TAKES = ("tuple", "list")
# A list of maps (mmdet's and mmseg's Swin, PVT, CGNet...) into a pooling neck: this neck goes in front
# of it and returns a tuple, a 1x1 convolution per level into the last level's width, without norm or
# activation (linear, as the pooling and the linear head after it). No installed library has a neck that
# passes a list on unchanged; mmpretrain builds a list of necks as one ``nn.Sequential``.
LIST_TO_TUPLE_NECK = ("mmdet", "ChannelMapper")
LIST_TO_TUPLE_ARGS = {"kernel_size": 1, "norm_cfg": None, "act_cfg": None}
# Necks that read the last level only (one int in_channels) and keep its stride (YOLOF's dilated
# encoder): the priors' stride is that level's.
STRIDE_KEEPING_SINGLE_NECKS = frozenset({"DilatedEncoder"})
# Segmentation heads built for a fixed number of inputs (ANN's low and high, DPT's four reassemble
# stages, SETR-MLA's four levels, FPNHead's feature_strides, LR-ASPP's branch_channels, one fewer):
# a swap keeps their count. Other heads of several inputs (UPerHead, SegformerHead, a resize_concat
# FCN) build one layer per input they get.
FIXED_INPUT_HEADS = frozenset({"ANNHead", "DPTHead", "SETRMLAHead", "FPNHead", "LRASPPHead"})
# Heads that average-pool a window of a fixed number of cells over the last level they read (LR-ASPP's
# ``nn.AvgPool2d(49, stride=(16, 20))``): that level's map must be at least as wide, so the images at least
# the window times its stride (392 px at stride 8, 784 at 16).
POOLING_WINDOWS = {"LRASPPHead": 49}
# Decode heads that read the backbone through a head they hold (KNet's kernel generator).
NESTED_READERS = {"IterativeDecodeHead": "kernel_generate_head"}
# Necks whose in_channels run from the deepest feature map to the shallowest.
REVERSED_NECKS = frozenset({"YOLOV3Neck"})
# Necks built for a number of levels that other arguments fix too (YOLOV3Neck's num_scales and
# out_channels, JPU's layout of outputs, MLANeck's one output per input that SETR's heads index): they
# read exactly as many levels as their in_channels lists.
FIXED_COUNT_NECKS = frozenset({"YOLOV3Neck", "MLANeck", *PASSING_ALL_BUT_LAST_NECKS})
# Segmentors whose decode heads run in a cascade (OCRNet's: each head gets the one before's output
# beside its own inputs): the maps the heads read must come at one stride.
CASCADE_SEGMENTORS = frozenset({"CascadeEncoderDecoder"})
SEG_HEAD_KEYS = ("decode_head", "auxiliary_head")
# Detection heads that read the backbone directly when the model has no neck (SSD-style configs, and
# Mask2Former's panoptic head, which reads every level).
DIRECT_DET_HEAD_KEYS = ("bbox_head", "rpn_head", "panoptic_head")
# Every key of a model whose value may read the backbone's outputs: one the config does not give as a
# value otxgen reads is not known absent (validate cannot check the consumers; build refuses).
READER_KEYS = ("neck", *SEG_HEAD_KEYS, "head", *DIRECT_DET_HEAD_KEYS)
# The keys of a reader that say what it reads of the backbone's outputs: one the config gives as an
# expression otxgen does not evaluate leaves the swap unable to update it (build refuses).
# DeepLabV3+'s head reads the backbone's first level as its low-level input, beside its ``in_index`` one.
LOW_LEVEL_KEY = "c1_in_channels"
READING_KEYS = frozenset({"in_channels", LOW_LEVEL_KEY, "in_index", "input_transform"})
HEAD_KEYS = (*SEG_HEAD_KEYS, "head")
# Classifier heads that read a ViT's class token (and pre-logits); a CNN's pooled map does not fit them.
TOKEN_HEADS = frozenset({"VisionTransformerClsHead"})  # DeiTClsHead subclasses it
# Heads that read several outputs per level (``nested``): the token heads (DeiT's class and distillation
# tokens) and Conformer's (its convolution and transformer features).
NESTED_READING_HEADS = TOKEN_HEADS | {"ConformerHead"}
# The classifier head of each library's own CNN pairing (``GlobalAveragePooling`` + ``LinearClsHead``),
# and the arguments of a token head that a linear head keeps.
LINEAR_HEAD = "LinearClsHead"
LINEAR_HEAD_KEEPS = ("num_classes", "loss", "topk", "cal_acc", "init_cfg")
POOLING_NECK = {"type": "GlobalAveragePooling"}
# Heads built for one backbone's own outputs (PIDNet's three branches, DDRNet's pair in training,
# Conformer's convolution and transformer features, a ViT's map and class token for DPT): no other
# backbone gives them.
PAIRED_HEADS = {
    "PIDHead": "PIDNet",
    "DDRHead": "DDRNet",
    "ConformerHead": "Conformer",
    "DPTHead": "VisionTransformer",  # reads (map, class token) pairs
    "TridentRoIHead": "TridentResNet",  # its branches' copies of the batch
}
# The forms a paired head takes its backbone's outputs in: DDRNet's and PIDNet's one map in evaluation and
# their branches' tuple in training; DPT's (map, class token) pairs, which mmseg's ViT gives with
# ``output_cls_token=True`` alone (a ViT without them fails DPT's ``assert len(x) == 2``).
PAIRED_HEAD_TAKES = {"DDRHead": ("tensor", "tuple"), "PIDHead": ("tensor", "tuple"), "DPTHead": ("nested",)}
# Backbones that give other outputs in training than in evaluation (PIDNet's three branches, DDRNet's
# pair, TridentNet's batch once per branch): only their own heads (``PAIRED_HEADS``) take them, any
# other fails at the first training step.
TRAINING_FORM_BACKBONES = frozenset({"PIDNet", "DDRNet", "TridentResNet"})
# Necks that take their inputs in a tuple only (mmpretrain's HRFuseScales asserts it).
TUPLE_ONLY_NECKS = frozenset({"HRFuseScales"})
# Classifier heads that pool the maps themselves (class-specific attention): no pooling neck before them.
MAP_HEADS = frozenset({"CSRAClsHead"})


def unpooled_head(model: Mapping[str, Any], ndim: int | None) -> str | None:
    """Why a classifier's head would read the backbone's outputs unpooled (a linear head fed 4-D maps or
    3-D tokens, without a neck to pool them), or None: build adds the pooling neck, validate reports it."""
    head = model.get("head")
    if not isinstance(head, Mapping) or ndim in (None, 2) or model.get("neck") is not None or known_as(head, MAP_HEADS):
        return None
    return f"{type_name(head)} takes pooled vectors, and the backbone gives {ndim}-D outputs with no neck to pool them"


_MISSING = object()


class ConsumerError(Exception):
    """A consumer otxgen cannot update without guessing; ``path`` is its place under ``model``."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def paired_head(model: Mapping[str, Any], backbone_type: str) -> tuple[tuple[str | int, ...], str] | None:
    """``(path, why)`` of a head built for another backbone's own outputs than ``backbone_type``'s, or
    of the backbone when it gives other outputs in training and none of its own heads reads them."""
    for key in (*HEAD_KEYS, "roi_head"):
        for path, head in _each_at(model.get(key), (key,)):
            owner = PAIRED_HEADS.get(known_as(head, PAIRED_HEADS))
            if owner is not None and backbone_type.rpartition(".")[2] != owner:
                why = f"{type_name(head)} reads {owner}'s own outputs, which {backbone_type} does not give"
                return path, why + "; start from a config whose heads take feature maps"
    name = backbone_type.rpartition(".")[2]
    owned = {head for head, owner in PAIRED_HEADS.items() if owner == name}
    keys = (*HEAD_KEYS, "roi_head")
    readers = {known_as(head, PAIRED_HEADS) for key in keys for _, head in _each_at(model.get(key), (key,))}
    if name in TRAINING_FORM_BACKBONES and not owned & readers:
        why = f"{backbone_type} gives other outputs in training than in evaluation, which only its own "
        return ("backbone",), why + f"{' or '.join(sorted(owned))} reads; start from its own config"
    return None


def type_name(cfg: object) -> str:
    """``'mmdet.FPN'`` -> ``'FPN'``; ``''`` for a value without a string type."""
    raw = cfg.get("type") if isinstance(cfg, Mapping) else None
    return raw.rpartition(".")[2] if isinstance(raw, str) else ""


def known_as(cfg: object, names: Collection[str]) -> str:
    """The one of ``names`` (a fact's list of types, or the keys of its table) that ``cfg``'s type is:
    its own name, else the nearest class of its library that it subclasses (``FPN_DropBlock`` is read
    as ``FPN``, ``otxgen.facts.lineage``); ``''`` for none."""
    raw = cfg.get("type") if isinstance(cfg, Mapping) else None
    if not isinstance(raw, str):
        return ""
    return next((name for name in (raw.rpartition(".")[2], *ancestors(raw)) if name in names), "")


def first_of(value: object) -> Mapping[str, Any] | None:
    """A neck or head may be a dict or a list of dicts applied in turn: the first meets the backbone."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
        return value[0]
    return None


def each_of(value: object) -> list[Mapping[str, Any]]:
    """The dicts of a consumer value that is a dict or a list of dicts."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def is_pooling_neck(neck: object) -> bool:
    return bool(known_as(neck, POOLING_NECKS))


def feature_neck(model: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The neck that reads the backbone's maps and takes ``in_channels``, if the model has one."""
    neck = first_of(model.get("neck"))
    return neck if neck is not None and not is_pooling_neck(neck) and "in_channels" in neck else None


def neck_channels(neck: Mapping[str, Any], channels: Sequence[int]) -> int | list[int] | tuple[int, ...]:
    """What a neck's ``in_channels`` becomes: the last level for an int (YOLOF's DilatedEncoder,
    CenterNet's neck), deepest-first for reversed necks, else one entry per level, in the container the
    config used (FastFCN's JPU asserts a tuple)."""
    old = neck.get("in_channels")
    if isinstance(old, int):
        return channels[-1]
    ordered = list(channels)[::-1] if known_as(neck, REVERSED_NECKS) else list(channels)
    return tuple(ordered) if isinstance(old, tuple) else ordered


def _stride_value(value: Any) -> int | None:
    """A prior stride is an int or an ``(h, w)`` pair; pairs count only when square."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Sequence) and len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
        return int(value[0])
    return None


def _dig(cfg: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = cfg
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def prior_strides(model: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    """Every stride list a detector keeps for its neck outputs, as ``(dotted path, strides)``."""
    found = []
    for path in PRIOR_STRIDE_PATHS:
        raw = _dig(model, path)
        if isinstance(raw, Sequence) and not isinstance(raw, str):
            strides = [_stride_value(v) for v in raw]
            if strides and all(s is not None for s in strides):
                found.append((".".join(path), [int(s) for s in strides if s is not None]))
    return found


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Reader:
    """One consumer that reads the backbone's outputs itself, at ``path`` under the model.

    ``levels``: the outputs it reads, one per ``in_channels`` entry (negative: from the end); None: every
    output, in order, or deepest first when ``deepest_first`` (YOLOV3Neck). ``single``: its
    ``in_channels`` is one int; ``each``: that int is every output's (CornerNet's head reads each stacked
    hourglass output)."""

    path: Path
    config: Mapping[str, Any]
    levels: tuple[int, ...] | None
    single: bool
    deepest_first: bool = False
    each: bool = False

    @property
    def name(self) -> str:
        return f"{'.'.join(str(p) for p in self.path)} {type_name(self.config) or '?'}".strip()

    def indices(self, count: int) -> list[int]:
        """The output indices read, in the order of ``in_channels``, for a backbone of ``count`` outputs
        (out-of-range ones as they are: the caller reports them)."""
        if self.levels is not None:
            return list(self.levels)
        if self.single and not self.each:
            return [count - 1]
        order = list(range(count))
        return order[::-1] if self.deepest_first else order


def backbone_readers(model: Mapping[str, Any]) -> list[Reader]:
    """Every consumer that reads the backbone's outputs: a feature neck alone when there is one (the heads
    read the neck); else each segmentation head by its ``in_index`` (mmseg's default -1; a head with a list
    of ``in_channels`` and no ``in_index`` reads every output), a classifier's head the last output (after
    a pooling neck or without one), and without any neck a detection head that reads every output (SSD)."""
    neck_value = model.get("neck")
    neck = first_of(neck_value)
    if neck is not None and not is_pooling_neck(neck):
        path: Path = ("neck", 0) if isinstance(neck_value, (list, tuple)) else ("neck",)
        if "in_channels" not in neck:
            return []
        single = not isinstance(neck["in_channels"], (list, tuple))
        return [Reader(path, neck, None, single, bool(known_as(neck, REVERSED_NECKS)))]
    readers = [
        _seg_reader(*_reading(path, head)) for key in SEG_HEAD_KEYS for path, head in _each_at(model.get(key), (key,))
    ]
    readers += [Reader(path, head, (-1,), True) for path, head in _each_at(model.get("head"), ("head",))]
    if neck is None:
        for key in DIRECT_DET_HEAD_KEYS:
            for path, head in _each_at(model.get(key), (key,)):
                single = not isinstance(head.get("in_channels"), (list, tuple))
                readers += [Reader(path, head, None, single, each=single)] if "in_channels" in head else []
    return readers


def most_levels(neck: Mapping[str, Any]) -> tuple[int, str] | None:
    """The most backbone levels ``neck`` takes, and why: ``num_outs`` from ``start_level`` on, for a neck
    of ``LEVEL_CAPPED_NECKS`` that reads to the last level (an mmseg FPN with 5 inputs and ``num_outs=4``
    asserts as it is built); None where it takes any number or says no ``num_outs``."""
    outs, start, end = neck.get("num_outs"), neck.get("start_level", 0), neck.get("end_level", -1)
    if not known_as(neck, LEVEL_CAPPED_NECKS) or end != -1 or not all(_integer(v) for v in (outs, start)):
        return None
    return outs + start, f"num_outs={outs} from start_level={start}"


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def levels_read(model: Mapping[str, Any], count: int) -> set[int] | None:
    """The positions of the backbone's ``count`` outputs that some consumer reads: each reader's, where a
    level-preserving neck reads from its ``start_level`` up to its ``end_level`` alone (RetinaNet's FPN
    builds no lateral for level 0), and DeepLabV3+'s first level beside its ``in_index`` one; None where no
    consumer says."""
    readers = backbone_readers(model)
    if not readers or count < 1:
        return None
    read: set[int] = set()
    for reader in readers:
        indices = [i % count for i in reader.indices(count) if -count <= i < count]
        start, end = reader.config.get("start_level", 0), reader.config.get("end_level", -1)
        ranged = known_as(reader.config, LEVEL_PRESERVING_NECKS) and not known_as(reader.config, PASS_THROUGH_NECKS)
        if reader.path[0] == "neck" and ranged and isinstance(start, int) and isinstance(end, int):
            last = count - 1 if end == -1 else end
            indices = [i for i in indices if start <= i <= last]
        low = reader.config.get(LOW_LEVEL_KEY)
        read.update([*indices, *([0] if isinstance(low, int) and low > 0 else [])])
    return read


@dataclass(frozen=True)
class Window:
    """A head at ``path`` that pools ``cells`` cells over the level it reads last, at ``stride``."""

    path: Path
    head: str
    cells: int
    stride: int

    @property
    def least_side(self) -> int:
        """The least image side the window fits in."""
        return self.cells * self.stride


def pooling_windows(model: Mapping[str, Any], strides: Sequence[int | None]) -> list[Window]:
    """Each head of ``model`` that pools a fixed window (``POOLING_WINDOWS``) over the last level it reads
    of a backbone whose levels come at ``strides``; those whose level or stride is unknown are left out."""
    found = []
    for reader in backbone_readers(model):
        cells = POOLING_WINDOWS.get(known_as(reader.config, POOLING_WINDOWS))
        indices = reader.indices(len(strides)) if cells is not None else []
        last = indices[-1] if indices and -len(strides) <= indices[-1] < len(strides) else None
        stride = strides[last] if last is not None else None
        if cells is not None and isinstance(stride, int):
            found.append(Window(reader.path, type_name(reader.config), cells, stride))
    return found


@dataclass(frozen=True)
class ContainerMisfit:
    """The consumer at ``path`` reads the backbone's outputs first and takes them only in ``takes``."""

    path: Path
    message: str
    takes: tuple[str, ...]


def container_misfit(model: Mapping[str, Any], container: str | None) -> ContainerMisfit | None:
    """The consumer that first reads the backbone's outputs, where it does not take them in ``container``
    (a tuple, a list, one tensor, or several per level); None when it does, or either is unknown."""
    neck_value = model.get("neck")
    neck = first_of(neck_value)
    takes: tuple[str, ...]
    if neck is not None and is_pooling_neck(neck):
        path: Path = ("neck", 0) if isinstance(neck_value, (list, tuple)) else ("neck",)
        reader, takes = neck, POOLING_NECK_TAKES
    else:
        readers = backbone_readers(model)
        if not readers:
            return None
        path, reader, takes = readers[0].path, readers[0].config, LEVEL_READER_TAKES
        takes = PAIRED_HEAD_TAKES.get(known_as(reader, PAIRED_HEAD_TAKES), takes)
        takes = (*takes, "nested") if known_as(reader, NESTED_READING_HEADS) else takes
        takes = ("tuple",) if known_as(reader, TUPLE_ONLY_NECKS) else takes
    if container is None or container in takes:
        return None
    [form] = _forms([container])
    message = f"the backbone returns {form}, and {type_name(reader)} takes {' or '.join(_forms(takes))}"
    return ContainerMisfit(path, message, takes)


_FORMS = {"tensor": "one tensor", "nested": "several outputs per level"}


def _forms(takes: Sequence[str]) -> list[str]:
    return [_FORMS.get(form, f"a {form}") for form in takes]


def _reading(path: Path, head: Mapping[str, Any]) -> tuple[Path, Mapping[str, Any]]:
    """The head that reads the backbone: ``head`` itself, or the one it holds (KNet)."""
    nested = NESTED_READERS.get(known_as(head, NESTED_READERS))
    inner = head.get(nested) if nested else None
    return ((*path, nested), inner) if nested and isinstance(inner, Mapping) else (path, head)


def _seg_reader(path: Path, head: Mapping[str, Any]) -> Reader:
    listed = isinstance(head.get("in_channels"), (list, tuple))
    index = head.get("in_index", None if listed else -1)
    if index is None:
        return Reader(path, head, None, False)
    levels = tuple(index) if isinstance(index, (list, tuple)) else (index,)
    return Reader(path, head, levels, not listed)


def _each_at(value: object, path: Path) -> list[tuple[Path, Mapping[str, Any]]]:
    if isinstance(value, Mapping):
        return [(path, value)]
    if isinstance(value, (list, tuple)):
        return [((*path, i), item) for i, item in enumerate(value) if isinstance(item, Mapping)]
    return []


def level_strides(model: Mapping[str, Any]) -> dict[int, tuple[int, str]]:
    """The stride the detector's priors want of each backbone level its neck reads, with the place that
    says so: through a level-preserving neck, level ``start_level + j`` (up to ``end_level``) feeds output
    ``j`` at prior stride ``j``; a pass-through neck (SSDNeck) gives level ``i`` as output ``i``; a
    reversed neck (YOLOV3Neck) reads the deepest level first, and its output ``j`` is at prior stride
    ``j`` (YOLOv3's head lists 32, 16, 8). Empty when the neck maps strides some other way, or nothing says."""
    neck = first_of(model.get("neck"))
    channels = neck.get("in_channels") if neck is not None else None
    if neck is not None and known_as(neck, RESCALING_NECKS):
        return _rescaled_strides(model, neck)
    if neck is not None and isinstance(channels, int) and known_as(neck, STRIDE_KEEPING_SINGLE_NECKS):
        sources = prior_strides(model)
        return {-1: (sources[0][1][0], f"{sources[0][0]}[0] (through {type_name(neck)})")} if sources else {}
    if neck is None or not isinstance(channels, (list, tuple)):
        return {}
    if known_as(neck, REVERSED_NECKS):
        return _reversed_strides(model, neck, len(channels))
    start, end = neck.get("start_level", 0), neck.get("end_level", -1)
    if known_as(neck, PASS_THROUGH_NECKS):
        start, end = 0, -1
    elif not known_as(neck, LEVEL_PRESERVING_NECKS) or not isinstance(start, int) or not isinstance(end, int):
        return {}
    last = len(channels) - 1 if end == -1 else end
    found: dict[int, tuple[int, str]] = {}
    for path, strides in prior_strides(model):
        for level in range(start, last + 1):
            j = level - start
            if level not in found and j < len(strides):
                found[level] = (strides[j], f"{path}[{j}] (through {type_name(neck)} start_level={start})")
    return found


def rescaling_factors(neck: Mapping[str, Any]) -> list[float] | None:
    """The factors a rescaling neck resizes its outputs by (its argument, else the library's default)."""
    kind = known_as(neck, RESCALING_NECKS)
    if not kind:
        return None
    argument, default = RESCALING_NECKS[kind]
    factors = neck.get(argument, default)
    numbers = isinstance(factors, (list, tuple)) and all(isinstance(f, (int, float)) for f in factors)
    return [float(f) for f in factors] if numbers and factors else None


def _rescaled_strides(model: Mapping[str, Any], neck: Mapping[str, Any]) -> dict[int, tuple[int, str]]:
    """Through a rescaling neck in front of another (``[MultiLevelNeck, FPN]``): the stride the next neck
    wants of output ``j`` times factor ``j`` is the stride wanted of input ``j``, or of the one input."""
    rest = list(model["neck"][1:]) if isinstance(model.get("neck"), (list, tuple)) else []
    factors, channels = rescaling_factors(neck), neck.get("in_channels")
    if not rest or factors is None or not isinstance(channels, (list, tuple)):
        return {}
    beyond = level_strides({**model, "neck": rest[0] if len(rest) == 1 else rest})
    found: dict[int, tuple[int, str]] = {}
    for j, (stride, source) in sorted(beyond.items()):
        j = j + len(factors) if j < 0 else j
        wanted = stride * factors[j] if 0 <= j < len(factors) else None
        level = 0 if len(channels) == 1 else j
        if wanted is not None and wanted == int(wanted) and level not in found:
            argument = RESCALING_NECKS[known_as(neck, RESCALING_NECKS)][0]
            through = f"through {type_name(neck)} {argument}[{j}]={factors[j]:g}"
            found[level] = (int(wanted), f"{source}, {through}")
    return found


def _reversed_strides(model: Mapping[str, Any], neck: Mapping[str, Any], count: int) -> dict[int, tuple[int, str]]:
    for path, strides in prior_strides(model):
        if len(strides) >= count:
            through = f"(through {type_name(neck)}, deepest first)"
            return {count - 1 - j: (strides[j], f"{path}[{j}] {through}") for j in range(count)}
    return {}


def fed_strides(model: Mapping[str, Any]) -> list[int] | None:
    """The strides a detector's neck is fed at, level by level from level 0, from the strides its anchors
    or RoI extractors were built for; None when the config does not say it for every level."""
    neck = first_of(model.get("neck"))
    count = len(neck["in_channels"]) if neck is not None and isinstance(neck.get("in_channels"), (list, tuple)) else 0
    mapped = level_strides(model)
    if not count or any(level not in mapped for level in range(count)):
        return None
    return [mapped[level][0] for level in range(count)]


@dataclass(frozen=True)
class Strides:
    """The strides of the old backbone's levels and of the new one's: a head that read one level by its
    ``in_index`` reads the new level at that stride where the new backbone gives another count of levels
    (``level_at``)."""

    before: Sequence[int]
    after: Sequence[int]

    def level_at(self, index: int) -> int | None:
        """The new level for old level ``index`` (``index >= 0``): the one at its stride, else the first
        coarser one, else the deepest; a dilated old backbone's repeated strides (4, 8, 8, 8) count as
        the stages they are (4, 8, 16, 32: as ``keeping_strides`` reads them). None where the count of
        levels is the same (their positions are the strides kept) or the strides do not say (out of
        order, repeated in the new backbone's, an index the old one did not have)."""
        before, after = list(self.before), list(self.after)
        if len(before) == len(after) or not 0 <= index < len(before) or not after:
            return None
        if any(b < a for a, b in itertools.pairwise(before)) or any(b <= a for a, b in itertools.pairwise(after)):
            return None
        stages: list[int] = []
        for stride in before:
            stages.append(stride if not stages or stride > stages[-1] else 2 * stages[-1])
        wanted = stages[index]
        return next((level for level, stride in enumerate(after) if stride >= wanted), len(after) - 1)


def consumer_overrides(
    model: Mapping[str, Any],
    channels: Sequence[int],
    in_index: Sequence[int] | None = None,
    strides: Strides | None = None,
) -> dict[str, Any]:
    """The smallest override of ``model`` that makes every consumer of the backbone's outputs read
    ``channels`` (one per level), in mmengine's merge semantics: a dict merges into the model's, a list
    replaces the whole list. ``in_index`` (levels for the decode head) overrides the heads' own choice;
    ``strides`` maps a head's one level to the new level at its stride (``Strides.level_at``).

    ``{'neck': {'in_channels': [...]}}``, ``{'decode_head': {'in_channels': 512, 'in_index': 3}}``,
    ``{'neck': [whole list]}``; ``{}`` when everything already fits."""
    neck = first_of(model.get("neck"))
    if neck is not None and not is_pooling_neck(neck):
        return _neck_override(model, neck, channels)
    override: dict[str, Any] = {}
    for key in SEG_HEAD_KEYS:
        levels = in_index if key == "decode_head" else None
        updates = functools.partial(_seg_updates, channels=channels, in_index=levels, strides=strides)
        _put(override, key, model.get(key), updates)
    head = model.get("head")
    if isinstance(head, Mapping) and "in_channels" in head and not same_value(head["in_channels"], channels[-1]):
        override["head"] = {"in_channels": channels[-1]}
    if neck is None:
        for key in DIRECT_DET_HEAD_KEYS:
            _put(override, key, model.get(key), functools.partial(_direct_head_updates, key, channels=channels))
    return override


def _neck_override(model: Mapping[str, Any], neck: Mapping[str, Any], channels: Sequence[int]) -> dict[str, Any]:
    """A feature neck that does not say its ``in_channels`` still takes them when it is a kind known to
    (FPN requires them); any other kind is a refusal: what it reads is not known."""
    width = neck.get(SAME_WIDTH_RESCALERS.get(known_as(neck, SAME_WIDTH_RESCALERS), ""), _MISSING)
    if "in_channels" not in neck and width is not _MISSING and all(same_value(c, width) for c in channels):
        return {}  # a same-width rescaler (BEiT's Feature2Pyramid) of this backbone's width
    if "in_channels" not in neck and not known_as(neck, IN_CHANNELS_NECKS):
        message = f"the neck {type_name(neck) or '?'} takes no in_channels: otxgen does not know what it reads"
        raise ConsumerError(("neck",), message + "; give it a config whose neck takes in_channels")
    new = neck_channels(neck, channels)
    if same_value(neck.get("in_channels", _MISSING), new):
        return {}
    old = neck.get("in_channels")
    if known_as(neck, FIXED_COUNT_NECKS) and isinstance(old, (list, tuple)) and len(old) != len(channels):
        deepest = list(range(len(channels)))[-len(old) :]
        way = (
            f"set out_indices to give that many (the deepest of these: --set out_indices={deepest})"
            if len(channels) > len(old)
            else f"choose a backbone, or arguments, that give {len(old)}"
        )
        message = (
            f"{type_name(neck)} reads {len(old)} backbone levels (its outputs are laid out for that many), the "
            f"backbone gives {len(channels)}; {way}"
        )
        raise ConsumerError(("neck", "in_channels"), message)
    changes: dict[str, Any] = {"in_channels": new}
    override: dict[str, Any] = {}
    if known_as(neck, PASS_THROUGH_NECKS):
        override = _pass_through(model, neck, list(channels), changes)
    if known_as(neck, PASSING_ALL_BUT_LAST_NECKS):
        override = _passed_levels(model, list(channels))
    value = model["neck"]
    if isinstance(value, (list, tuple)):  # mmengine replaces a list: the override is the whole list
        return {**override, "neck": [{**neck, **changes}, *value[1:]]}
    return {**override, "neck": changes}


def _pass_through(
    model: Mapping[str, Any], neck: Mapping[str, Any], channels: list[int], changes: dict[str, Any]
) -> dict[str, Any]:
    """SSDNeck: the new inputs replace the first outputs, and the head reads the new outputs."""
    old_in, old_out = list(neck.get("in_channels") or []), list(neck.get("out_channels") or [])
    if len(old_in) != len(channels) or len(old_out) <= len(old_in):
        message = f"{type_name(neck)} reads {len(old_in)} backbone levels, the backbone gives {len(channels)}"
        raise ConsumerError(("neck", "in_channels"), message)
    # SSDNeck asserts out_channels[:n] == in_channels: both in the container the config used
    outputs = [*channels, *old_out[len(old_in) :]]
    changes["in_channels"] = tuple(channels) if isinstance(neck.get("in_channels"), tuple) else list(channels)
    changes["out_channels"] = tuple(outputs) if isinstance(neck.get("out_channels"), tuple) else outputs
    head = model.get("bbox_head")
    if isinstance(head, Mapping) and same_value(head.get("in_channels"), old_out):
        held = head.get("in_channels")
        return {"bbox_head": {"in_channels": tuple(outputs) if isinstance(held, tuple) else outputs}}
    return {}


def _passed_levels(model: Mapping[str, Any], channels: list[int]) -> dict[str, Any]:
    """JPU: a head that reads a level the neck passes through (an ``in_index`` before the last) reads
    the backbone's channels there."""

    def updates(head: Mapping[str, Any]) -> dict[str, Any]:
        index = head.get("in_index", -1)
        if not isinstance(index, int) or not -len(channels) < index < len(channels) - 1 or index == -1:
            return {}
        width = channels[index]
        return {} if same_value(head.get("in_channels"), width) else {"in_channels": width}

    override: dict[str, Any] = {}
    for key in SEG_HEAD_KEYS:
        _put(override, key, model.get(key), updates)
    return override


def _put(
    override: dict[str, Any], key: str, value: object, updates_of: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> None:
    """``override[key]`` from each head's updates: a dict of changes, or the whole list when a list."""
    heads = each_of(value)
    try:
        changes = [updates_of(head) for head in heads]
    except ConsumerError as error:
        if error.path[:1] == (key,):  # placed already
            raise
        raise ConsumerError((key, *error.path), f"{key} {error.message}") from None
    if not any(changes):
        return
    if isinstance(value, Mapping):
        override[key] = changes[0]
    else:  # the whole list is written: each change merged into its head, nested dicts too
        override[key] = [_merged_into(head, change) for head, change in zip(heads, changes, strict=True)]


def _merged_into(head: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(head)
    for key, value in change.items():
        held = merged.get(key)
        merged[key] = _merged_into(held, value) if isinstance(value, Mapping) and isinstance(held, Mapping) else value
    return merged


def _seg_updates(
    head: Mapping[str, Any], *, channels: Sequence[int], in_index: Sequence[int] | None, strides: Strides | None
) -> dict[str, Any]:
    nested = NESTED_READERS.get(known_as(head, NESTED_READERS))
    inner = head.get(nested) if nested else None
    if nested and isinstance(inner, Mapping):
        updates = seg_head_updates(inner, channels, in_index, strides)
        return {nested: updates} if updates else {}
    return seg_head_updates(head, channels, in_index, strides)


def seg_head_updates(
    head: Mapping[str, Any],
    channels: Sequence[int],
    in_index: Sequence[int] | None = None,
    strides: Strides | None = None,
) -> dict[str, Any]:
    """``in_channels`` / ``in_index`` (and DeepLabV3+'s ``c1_in_channels``) for one mmseg head: a head
    of one level reads the new level at its old one's stride where ``strides`` says (the new backbone
    gives another count of levels); else it keeps reading its ``in_index`` levels when the new backbone
    has them, else the last level (an int head) or all levels (a list head). mmseg's default
    ``in_index`` is -1."""
    old_channels, old_index = head.get("in_channels", _MISSING), head.get("in_index", _MISSING)
    if old_channels is _MISSING and in_index is None:
        return {}
    levels: int | list[int]
    at_stride = _level_at_stride(old_index, strides)
    if in_index is not None:
        single = len(in_index) == 1 and not isinstance(old_channels, (list, tuple))
        levels = in_index[0] if single else list(in_index)
    elif at_stride is not None:
        levels = at_stride
    else:
        levels = _levels(old_index, old_channels, len(channels), bool(known_as(head, FIXED_INPUT_HEADS)))
    picked: object = channels[levels] if isinstance(levels, int) else [channels[i] for i in levels]
    updates: dict[str, Any] = {"in_channels": picked}
    if levels != -1 or old_index is not _MISSING:
        updates["in_index"] = levels
    if LOW_LEVEL_KEY in head:
        updates[LOW_LEVEL_KEY] = channels[0]
    return {key: value for key, value in updates.items() if not same_value(head.get(key, _MISSING), value)}


def _level_at_stride(index: object, strides: Strides | None) -> int | list[int] | None:
    """``Strides.level_at`` for a head's ``in_index`` counted from the first level: one level, or each of
    a list (UPerHead's 0 to 3 over a backbone with a finer level in front: 1 to 4), where they stay
    distinct and in order; None where they do not."""
    if strides is None:
        return None
    if isinstance(index, int) and not isinstance(index, bool):
        return strides.level_at(index) if index >= 0 else None
    if not isinstance(index, (list, tuple)) or not index:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in index):
        return None
    levels = [strides.level_at(i) for i in index]
    if any(level is None for level in levels):
        return None
    found = [int(level or 0) for level in levels]
    return found if found == sorted(set(found)) else None


def _direct_head_updates(key: str, head: Mapping[str, Any], *, channels: Sequence[int]) -> dict[str, Any]:
    """A detection head without a neck reads the backbone's levels itself: one ``in_channels`` entry a
    level (SSD). One int for all its levels (CornerNet's stacked hourglass outputs) says neither which
    levels nor at which strides: a refusal."""
    old = head.get("in_channels", _MISSING)
    if old is _MISSING:
        return {}
    if not isinstance(old, (list, tuple)):
        message = f"{key} reads the backbone directly with one in_channels for all its levels: otxgen cannot tell which"
        raise ConsumerError((key, "in_channels"), message + "; start from a config with a neck")
    if len(old) != len(channels):
        message = f"{key} reads {len(old)} backbone levels, the backbone gives {len(channels)}"
        raise ConsumerError((key, "in_channels"), message)
    return {} if same_value(old, channels) else {"in_channels": list(channels)}


def valid_index(index: object, count: int) -> bool:
    if isinstance(index, (list, tuple)):
        return bool(index) and all(valid_index(i, count) for i in index)
    return isinstance(index, int) and not isinstance(index, bool) and -count <= index < count


def _levels(old_index: object, old_channels: object, count: int, fixed: bool) -> int | list[int]:
    """The levels a head reads after the swap: its own where the new backbone has them; else, for a head
    of several inputs, every level, or as many as it had (the deepest ones) where its layers are built
    for that count (``fixed``: ANN's low and high, DPT's four); else the last level."""
    if isinstance(old_index, (list, tuple)) and valid_index(old_index, count):
        return list(old_index)
    if isinstance(old_index, int) and valid_index(old_index, count):
        return old_index
    listed = old_index if isinstance(old_index, (list, tuple)) else old_channels
    if isinstance(listed, (list, tuple)) and not fixed:
        return list(range(count))
    if isinstance(listed, (list, tuple)):
        if len(listed) > count:
            message = f"reads {len(listed)} levels and is built for that many, the backbone gives {count}"
            raise ConsumerError(("in_index",), message + "; choose out_indices (or a backbone) with enough levels")
        return list(range(count - len(listed), count))
    return -1 if old_index is _MISSING else count - 1


def cascade_levels(model: Mapping[str, Any]) -> list[tuple[str, int]]:
    """For a cascade segmentor, the backbone output each decode head's map is made at (its one
    ``in_index``; with ``resize_concat``, the first of its list, the size the others are resized to),
    as ``(head type, index)``; empty for any other model or a head read another way."""
    heads = model.get("decode_head")
    if not known_as(model, CASCADE_SEGMENTORS) or not isinstance(heads, list):
        return []
    found = []
    for head in heads:
        if not isinstance(head, Mapping):
            return []
        index, transform = head.get("in_index", -1), head.get("input_transform")
        if isinstance(index, (list, tuple)) and transform == "resize_concat" and index:
            index = index[0]
        if not isinstance(index, int) or isinstance(index, bool) or (transform not in (None, "resize_concat")):
            return []
        found.append((str(head.get("type", "?")).rpartition(".")[2], index))
    return found
