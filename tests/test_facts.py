"""The consumer facts (``otxgen.facts.consumers``) that plan, validate and the smoke-build share: pure,
core install only."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otxgen.facts.consumers import (
    LEVEL_PRESERVING_NECKS,
    PYRAMID_NECK,
    RESCALING_NECKS,
    SAME_WIDTH_RESCALERS,
    ConsumerError,
    backbone_readers,
    consumer_overrides,
    fed_strides,
    known_as,
    level_strides,
    levels_read,
)
from otxgen.facts.values import same_value

YOLOV3 = {
    "type": "YOLOV3",
    "neck": {"type": "YOLOV3Neck", "num_scales": 3, "in_channels": [1024, 512, 256], "out_channels": [512, 256, 128]},
    "bbox_head": {"type": "YOLOV3Head", "prior_generator": {"strides": [32, 16, 8]}},
}


def test_yolov3_neck_is_fed_the_shallowest_level_at_the_last_prior_stride() -> None:
    assert fed_strides(YOLOV3) == [8, 16, 32]
    assert level_strides(YOLOV3)[0][1] == "bbox_head.prior_generator.strides[2] (through YOLOV3Neck, deepest first)"


def test_yolov3_neck_takes_new_channels_deepest_first_and_no_other_count() -> None:
    assert consumer_overrides(YOLOV3, [64, 128, 256]) == {"neck": {"in_channels": [256, 128, 64]}}
    with pytest.raises(
        ConsumerError,
        match=r"YOLOV3Neck reads 3 backbone levels \(its outputs are laid out for that many\), the backbone gives 4",
    ):
        consumer_overrides(YOLOV3, [32, 64, 128, 256])


def test_readers_without_a_neck() -> None:
    ssd = {"bbox_head": {"type": "SSDHead", "in_channels": (512, 1024)}}
    classifier = {"head": {"type": "LinearClsHead", "in_channels": 512}}
    assert [(r.path, r.levels, r.single) for r in backbone_readers(ssd)] == [(("bbox_head",), None, False)]
    assert [(r.path, r.indices(4)) for r in backbone_readers(classifier)] == [(("head",), [-1])]


def test_a_neck_alone_reads_the_backbone_and_a_list_of_heads_reads_by_in_index() -> None:
    segmentor = {
        "decode_head": {"type": "UPerHead", "in_channels": [96, 192, 384, 768], "in_index": [0, 1, 2, 3]},
        "auxiliary_head": [
            {"type": "FCNHead", "in_channels": 384, "in_index": 2},
            {"type": "FCNHead", "in_channels": 96},
        ],
    }
    readers = backbone_readers(segmentor)
    assert [(r.path, r.indices(4)) for r in readers] == [
        (("decode_head",), [0, 1, 2, 3]),
        (("auxiliary_head", 0), [2]),
        (("auxiliary_head", 1), [-1]),
    ]
    with_neck = {**segmentor, "neck": {"type": "MultiLevelNeck", "in_channels": [768, 768], "out_channels": 768}}
    assert [r.path for r in backbone_readers(with_neck)] == [("neck",)]


def _vit_detector(pyramid_in: list[int]) -> dict[str, object]:
    return {
        "neck": [
            {"type": "mmseg.MultiLevelNeck", "in_channels": pyramid_in, "out_channels": 256, "scales": [4, 2, 1, 0.5]},
            {"type": "FPN", "in_channels": [256] * 4, "out_channels": 256, "start_level": 1, "num_outs": 5},
        ],
        "bbox_head": {"type": "RetinaHead", "anchor_generator": {"strides": [8, 16, 32, 64, 128]}},
    }


def test_strides_map_through_a_rescaling_neck_in_front_of_a_pyramid_neck() -> None:
    """The FPN's level j is wanted at the anchors' stride; the rescaler makes it from its input by factor
    j, so its one input (or input j) is wanted at that stride times the factor: 16 for a patch-16 ViT."""
    one = level_strides(_vit_detector([384]))
    assert {level: stride for level, (stride, _) in one.items()} == {0: 16}
    assert one[0][1] == (
        "bbox_head.anchor_generator.strides[0] (through FPN start_level=1), through MultiLevelNeck scales[1]=2"
    )
    four = level_strides(_vit_detector([384] * 4))
    assert {level: stride for level, (stride, _) in four.items()} == {1: 16, 2: 16, 3: 16}  # level 0: start_level
    assert fed_strides(_vit_detector([384])) == [16]


def test_rescaling_necks_factor_defaults_are_the_librarys() -> None:
    import inspect

    necks = pytest.importorskip("mmseg.models.necks")
    for name, (argument, default) in RESCALING_NECKS.items():
        assert tuple(inspect.signature(getattr(necks, name)).parameters[argument].default) == default
    assert PYRAMID_NECK[1] in necks.__all__ and set(SAME_WIDTH_RESCALERS) <= set(RESCALING_NECKS)


def test_a_same_width_rescaler_of_the_backbones_width_needs_no_change() -> None:
    beit = {"neck": {"type": "Feature2Pyramid", "embed_dim": 768}, "decode_head": {"in_channels": [768] * 4}}
    assert consumer_overrides(beit, [768] * 4) == {}
    with pytest.raises(ConsumerError, match="takes no in_channels"):
        consumer_overrides(beit, [384] * 4)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_adjacent_strings_count_as_libcst_levels_wherever_they_stand(ending: str) -> None:
    """Adjacent string literals are one node to Python and a chain to libcst: a chain longer than the
    limit is refused at its own position, after non-ASCII text (ast's columns are bytes) and many
    other strings on its line (its column counted in characters); as many strings separated by commas
    are one level and read."""
    from otxgen.facts.pysource import MAX_DEPTH, SourceError, check_syntax

    many = ", ".join(f"'{i}'" for i in range(3 * MAX_DEPTH))
    chain = " ".join(f"'{i}'" for i in range(MAX_DEPTH + 1))
    lines = ["# é, ü: not ASCII", f"names = ({many})", f"title = 'é'; words = [{many}, {chain}]"]
    with pytest.raises(SourceError, match="nested too deeply") as refused:
        check_syntax(ending.join(lines) + ending)
    assert (refused.value.line, refused.value.col) == (3, len(f"title = 'é'; words = [{many}, ") + 1)
    check_syntax(ending.join(lines[:2]) + ending)


def test_a_family_bound_optimizer_constructor_is_named_for_another_family() -> None:
    """mmseg's layer-decay constructor raises NotImplementedError for a backbone class outside its families
    (its own words: 'built for ConvNeXt, BEiT and MAE'), and builds for one of them."""
    from otxgen.facts.optimizers import optimizer_misfit

    torch = pytest.importorskip("torch")
    constructors = pytest.importorskip("mmseg.engine.optimizers")
    cfg = {"optim_wrapper": {"constructor": "LayerDecayOptimizerConstructor"}}
    assert optimizer_misfit(cfg, "mmseg.BEiT", "mmseg") is None
    misfit = optimizer_misfit(cfg, "timm.vit_tiny_patch16_224", "mmseg")
    assert misfit is not None and "NotImplementedError" in misfit.message

    for name, fails in (("BEiT", False), ("TimmBackbone", True)):
        model = torch.nn.Module()
        model.backbone = type(name, (torch.nn.Module,), {})()
        model.backbone.layers = torch.nn.ModuleList([torch.nn.Linear(2, 2)])
        constructor = constructors.LayerDecayOptimizerConstructor(
            {"type": "OptimWrapper", "optimizer": {"type": "AdamW", "lr": 1e-4}},
            {"num_layers": 1, "layer_decay_rate": 0.9, "decay_type": "layer_wise"},
        )
        try:
            constructor(model)
        except NotImplementedError:
            assert fails, name
        else:
            assert not fails, name


@pytest.mark.parametrize(
    ("library", "module", "constructor"),
    [
        ("mmdet", "mmdet.engine.optimizers", "LearningRateDecayOptimizerConstructor"),
        ("mmseg", "mmseg.engine.optimizers", "LearningRateDecayOptimizerConstructor"),
        ("mmpretrain", "mmpretrain.engine.optimizers", "LearningRateDecayOptimWrapperConstructor"),
    ],
)
def test_each_named_decay_constructor_raises_where_the_fact_says(library: str, module: str, constructor: str) -> None:
    """Each library's own constructor, over a model whose backbone is one of otxgen's wrappers, raises
    NotImplementedError, and builds over a ConvNeXt of the library (a family every one of them takes):
    the fact says the same of both, and mmengine's default constructor, which the plan writes instead,
    takes the decay keys' absence."""
    from otxgen.facts.optimizers import DECAY_KEYS, default_constructor, optimizer_misfit

    torch = pytest.importorskip("torch")
    classes = pytest.importorskip(module)
    from mmengine.optim import DefaultOptimWrapperConstructor

    def model_with(name: str) -> Any:
        model = torch.nn.Module()
        model.backbone = type(name, (torch.nn.Module,), {})()
        model.backbone.stages = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(2, 2))])
        if constructor.endswith("WrapperConstructor"):  # mmpretrain's asks the model for a layer's depth
            model.get_layer_depth = lambda name: (1, 3)  # what its classifiers give for a ConvNeXt backbone
            model.backbone.get_layer_depth = model.get_layer_depth
        return model

    paramwise = {"num_layers": 12, "decay_rate": 0.9, "decay_type": "layer_wise", "layer_decay_rate": 0.9}
    wrapper = {"type": "OptimWrapper", "optimizer": {"type": "AdamW", "lr": 1e-4, "weight_decay": 0.05}}
    cfg = {"optim_wrapper": {**wrapper, "constructor": constructor, "paramwise_cfg": paramwise}}
    getattr(classes, constructor)(wrapper, paramwise)(model_with("ConvNeXt"))
    assert optimizer_misfit(cfg, f"{library}.ConvNeXt", library) is None
    wrapped = model_with("torchvision.resnet18")
    if hasattr(wrapped, "get_layer_depth"):
        del wrapped.get_layer_depth
    with pytest.raises(NotImplementedError):
        getattr(classes, constructor)(wrapper, paramwise)(wrapped)
    assert optimizer_misfit(cfg, "torchvision.resnet18", library) is not None
    override = default_constructor(cfg["optim_wrapper"])
    assert not set(DECAY_KEYS) & set(override["paramwise_cfg"])
    DefaultOptimWrapperConstructor(wrapper, {})(wrapped)


def _subclasses(library: str, base: str) -> list[str]:
    """The classes the live library registers that subclass ``base`` (read from its registry)."""
    import importlib

    importlib.import_module(f"{library}.models")
    registered = importlib.import_module(f"{library}.registry").MODELS.module_dict
    return sorted(
        name
        for name, cls in registered.items()
        if isinstance(cls, type) and cls is not registered[base] and issubclass(cls, registered[base])
    )


@pytest.mark.parametrize(("library", "base", "facts"), [("mmdet", "FPN", LEVEL_PRESERVING_NECKS)])
def test_a_part_that_subclasses_a_known_part_is_read_as_it(library: str, base: str, facts: frozenset[str]) -> None:
    subclasses = _subclasses(library, base)
    assert subclasses, f"{library} registers no subclass of {base}"
    model = {
        "neck": {"type": base, "in_channels": [256, 512, 1024, 2048], "start_level": 1, "num_outs": 5},
        "bbox_head": {"anchor_generator": {"strides": [8, 16, 32, 64, 128]}},
    }
    for name in subclasses:
        assert known_as({"type": f"{library}.{name}"}, facts) in (name, base), name  # RFP is named itself
        sub = {**model, "neck": {**model["neck"], "type": name}}
        assert level_strides(sub) == {
            level: (stride, why.replace(base, name)) for level, (stride, why) in level_strides(model).items()
        }
    assert known_as({"type": "MyOwnFPN"}, facts) == "" and known_as({"type": base}, facts) == base


def test_the_committed_lineage_is_the_live_registrys() -> None:
    """Each committed entry names classes the live library registers, in its class hierarchy."""
    import importlib

    from otxgen.facts.lineage import _table

    for library, parts in _table().items():
        importlib.import_module(f"{library}.models")
        registered = importlib.import_module(f"{library}.registry").MODELS.module_dict
        for name, bases in parts.items():
            assert [b for b in registered[name].__mro__[1:] if registered.get(b.__name__) is b] == [
                registered[b] for b in bases
            ]


@pytest.mark.parametrize(("decay_type", "fails"), [("stage_wise", True), ("layer_wise", False)])
def test_mmsegs_stage_wise_decay_is_convnexts_alone(decay_type: str, fails: bool) -> None:
    """mmseg's constructor decays a MAE layer by layer, and raises for it stage by stage (ConvNeXt's only):
    the fact reads ``decay_type`` as the constructor does (a hostile pass kept stage_wise for a MAE)."""
    from otxgen.facts.optimizers import optimizer_misfit

    torch = pytest.importorskip("torch")
    constructors = pytest.importorskip("mmseg.engine.optimizers")
    model = torch.nn.Module()
    model.backbone = type("MAE", (torch.nn.Module,), {})()
    model.backbone.layers = torch.nn.ModuleList([torch.nn.Linear(2, 2)])
    paramwise = {"num_layers": 1, "decay_rate": 0.9, "decay_type": decay_type}
    wrapper = {"type": "OptimWrapper", "optimizer": {"type": "AdamW", "lr": 1e-4, "weight_decay": 0.05}}
    constructor = constructors.LearningRateDecayOptimizerConstructor(wrapper, paramwise)
    cfg = {
        "optim_wrapper": {**wrapper, "constructor": "LearningRateDecayOptimizerConstructor", "paramwise_cfg": paramwise}
    }
    if fails:
        with pytest.raises(NotImplementedError):
            constructor(model)
    else:
        constructor(model)
    assert (optimizer_misfit(cfg, "mmseg.MAE", "mmseg") is not None) is fails


def test_the_levels_read_are_those_a_pyramid_neck_builds_laterals_for_and_those_heads_index() -> None:
    """What the measurement of parameters without gradient backpropagates from: RetinaNet's FPN
    (start_level=1) reads no level 0, an FPN's end_level is its last level read, PSPNet's heads read
    their in_index; None where no consumer says."""
    fpn = {"type": "FPN", "in_channels": [256, 512, 1024, 2048], "out_channels": 256}
    assert levels_read({"neck": {**fpn, "start_level": 1}}, 4) == {1, 2, 3}
    assert levels_read({"neck": {**fpn, "end_level": 2}}, 4) == {0, 1, 2}
    assert levels_read({"neck": fpn}, 4) == {0, 1, 2, 3}
    heads = {
        "decode_head": {"type": "PSPHead", "in_channels": 2048, "in_index": 3},
        "auxiliary_head": {"type": "FCNHead", "in_channels": 1024, "in_index": -2},
    }
    assert levels_read(heads, 4) == {2, 3}
    deeplabv3plus = {"type": "DepthwiseSeparableASPPHead", "in_channels": 2048, "in_index": 3, "c1_in_channels": 256}
    assert levels_read({"decode_head": deeplabv3plus}, 4) == {0, 3}  # its low-level input, through c1
    assert levels_read({"decode_head": {**deeplabv3plus, "c1_in_channels": 0}}, 4) == {3}
    assert levels_read({}, 4) is None


@pytest.mark.parametrize(
    ("before", "after", "index", "level"),
    [
        ([4, 8, 16, 32], [4, 16, 32], 2, 1),  # the stage at stride 16 is the second of three now
        ([4, 8, 16, 32], [4, 16, 32], 3, 2),
        ([4, 8, 8, 8], [4, 16, 32], 2, 1),  # a dilated ResNet's third stage counts as stride 16
        ([4, 8, 8, 8], [2, 4, 8], 2, 2),  # none as coarse: the deepest (OCRNet's cascade reads one level)
        ([4, 8, 8, 8], [2, 4, 8], 3, 2),
        ([4, 8, 16, 32], [4, 8, 16, 32], 2, None),  # the same count: positions are the strides kept
        ([8, 32, 8], [4, 16], 1, None),  # out of order: the strides do not say
        ([4, 8, 16, 32], [16, 16, 16], 1, None),  # one stride: depth, not stride, tells the blocks apart
    ],
)
def test_a_heads_level_follows_its_stride_to_a_backbone_of_another_count(
    before: list[int], after: list[int], index: int, level: int | None
) -> None:
    from otxgen.facts.consumers import Strides

    assert Strides(before, after).level_at(index) == level


def test_a_head_of_several_levels_follows_their_strides_while_they_stay_distinct() -> None:
    from otxgen.facts.consumers import Strides, seg_head_updates

    head = {"type": "UPerHead", "in_channels": [256, 512, 1024, 2048], "in_index": [0, 1, 2, 3]}
    finer_in_front = Strides([4, 8, 16, 32], [2, 4, 8, 16, 32])
    assert seg_head_updates(head, [16, 24, 40, 112, 1280], strides=finer_in_front) == {
        "in_channels": [24, 40, 112, 1280],
        "in_index": [1, 2, 3, 4],
    }
    fewer = Strides([4, 8, 16, 32], [4, 16, 32])  # 4 and 8 would both read the level at 4: every level
    assert seg_head_updates(head, [96, 384, 768], strides=fewer)["in_index"] == [0, 1, 2]


def _as_lists(value: Any) -> Any:
    """The definition ``same_value`` keeps to: ``==`` once every tuple is a list."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    return value


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 0.5, "a", "b", ""]))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", 1, True]), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(_VALUES, _VALUES)
def test_same_value_is_equality_with_tuples_as_lists(left: Any, right: Any) -> None:
    assert same_value(left, right) is (_as_lists(left) == _as_lists(right))
    assert same_value(left, _as_lists(left)) and same_value(_as_lists(right), right)
