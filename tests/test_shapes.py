"""The shape service: static table vs real forward, the meta-construction fallback, pooled defaults, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from otxgen.facts.strides import stride_of
from otxgen.schema import store
from otxgen.shapes import ShapeResult, probe_outputs, static_outputs, unreached_parameters


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTXGEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _summary(result: ShapeResult) -> list[tuple[int | None, int | None, int]]:
    return [(o.channels, o.stride, o.ndim) for o in result.outputs]


def test_static_resnet50_agrees_with_a_real_forward() -> None:
    cfg = {"type": "mmdet.ResNet", "depth": 50}
    static = probe_outputs(cfg)
    assert static.tier == "static"
    assert _summary(static) == [(256, 4, 4), (512, 8, 4), (1024, 16, 4), (2048, 32, 4)]
    real = probe_outputs(cfg, tier="forward", use_cache=False)
    assert real.tier == "forward"
    assert _summary(real) == _summary(static)


def test_static_table_follows_out_indices_and_steps_aside_for_shape_args() -> None:
    schema = store.load_schema("mmdet.ResNet")
    picked = static_outputs({"type": "mmdet.ResNet", "depth": 18, "out_indices": (1, 3), "norm_eval": False}, schema)
    assert picked is not None and _summary(picked) == [(128, 8, 4), (512, 32, 4)]
    assert static_outputs({"type": "mmdet.ResNet", "depth": 50, "base_channels": 32}, schema) is None
    assert static_outputs({"type": "mmdet.ResNet", "depth": 50, "strides": (1, 2, 2, 2)}, schema) is not None  # default
    assert static_outputs({"type": "mmdet.ResNet", "depth": 50, "bogus": 1}, schema) is None


def test_meta_failure_falls_back_and_matches_forward() -> None:
    # ConvNeXt's constructor calls .item() on a drop-path schedule: pure meta construction fails.
    cfg = {"type": "mmpretrain.ConvNeXt", "arch": "tiny", "out_indices": (0, 1, 2, 3), "gap_before_final_norm": False}
    probed = probe_outputs(cfg, tier="meta", use_cache=False)
    assert probed.tier == "meta" and probed.construct in ("hybrid", "cpu")
    assert _summary(probed) == [(96, 4, 4), (192, 8, 4), (384, 16, 4), (768, 32, 4)]
    assert _summary(probe_outputs(cfg, tier="forward", use_cache=False)) == _summary(probed)


@pytest.mark.parametrize(
    "cfg, channels",
    [
        ({"type": "mmpretrain.ConvNeXt", "arch": "tiny"}, 768),
        ({"type": "mmpretrain.VisionTransformer", "arch": "b"}, 768),
    ],
)
def test_pooled_defaults_are_not_4d(cfg: dict[str, object], channels: int) -> None:
    for tier in ("auto", "probe"):
        result = probe_outputs(cfg, tier=tier, use_cache=False)
        assert not result.is_dense
        assert [(o.channels, o.ndim) for o in result.outputs] == [(channels, 2)]


def test_vit_featmap_static_table_matches_probe() -> None:
    cfg = {"type": "mmpretrain.VisionTransformer", "arch": "b", "out_type": "featmap", "out_indices": (3, 11)}
    static = probe_outputs(cfg, tier="static")
    assert _summary(static) == [(768, 16, 4), (768, 16, 4)]
    assert _summary(probe_outputs(cfg, tier="probe", use_cache=False)) == _summary(static)


def test_results_are_cached_on_disk(tmp_path: Path) -> None:
    cfg = {"type": "mmdet.ResNet", "depth": 18, "base_channels": 32}
    first = probe_outputs(cfg, tier="probe")
    files = list((tmp_path / "cache" / "otxgen" / "shapes").glob("*.json"))
    assert len(files) == 1
    assert probe_outputs(cfg, tier="probe") == first
    assert _summary(first)[0] == (32, 4, 4)


def test_stride_from_sizes() -> None:
    assert stride_of(256, 64) == 4
    assert stride_of(224, 4) == 64  # padded stride-64 map at 224
    assert stride_of(256, 18) == 14  # patch 14
    assert stride_of(224, 7) == 32
    assert stride_of(224, 16) == 14  # patch 14 at 224


def test_a_space_to_depth_stem_gets_an_rgb_input() -> None:
    # CSPDarknet's first conv takes 12 channels (its Focus stem folds 2x2 pixels of an RGB image)
    result = probe_outputs({"type": "mmdet.CSPDarknet"}, tier="forward", use_cache=False)
    assert [(o.channels, o.stride) for o in result.outputs] == [(256, 8), (512, 16), (1024, 32)]


def test_a_vits_block_count_argument_sets_how_many_levels_its_table_lists() -> None:
    """``out_indices`` index a ViT's blocks: with ``num_layers`` changed the table lists as many levels as
    the library builds blocks (counted on a small BEiT), and a count that is not the blocks' (``num_heads``,
    whose default is 12 too) changes nothing."""
    from mmseg.models.backbones import BEiT

    from otxgen.schema.table import ChannelTable

    table = ChannelTable(store.load_schema("mmseg.BEiT"))
    built = len(BEiT(num_layers=24, img_size=64, embed_dims=64, num_heads=2).layers)
    assert len(table.stages({"type": "mmseg.BEiT", "num_layers": built}) or []) == built
    default = len(BEiT(img_size=64, embed_dims=64, num_heads=2).layers)
    assert len(table.stages({"type": "mmseg.BEiT", "num_heads": 16}) or []) == default


def test_unreached_parameters_are_those_no_output_read_depends_on_and_frozen_ones_do_not_count() -> None:
    """The meta-device measurement against a CPU backward of the same backbone: ResNet-18's outputs 0 and
    1 leave layer3 and layer4 without gradient; reading all four leaves nothing; a frozen stem and first
    stage are not trainable, so reading output 0 alone leaves layer2 to layer4 only."""
    import torch

    from otxgen.shapes import build_backbone

    def on_cpu(cfg: dict[str, object], read: set[int]) -> tuple[str, ...]:
        model = build_backbone(cfg)
        model.train()
        outputs = model(torch.rand(2, 3, 64, 64))
        total = sum(outputs[i].sum() for i in read)
        if total.requires_grad:  # a frozen stage's output has no gradient to give
            total.backward()
        return tuple(name for name, p in model.named_parameters() if p.requires_grad and p.grad is None)

    resnet = {"type": "mmdet.ResNet", "depth": 18}
    measured = unreached_parameters(resnet, {0, 1}, use_cache=False)
    assert measured == on_cpu(resnet, {0, 1})
    assert measured and {name.split(".")[0] for name in measured} == {"layer3", "layer4"}
    assert unreached_parameters(resnet, {0, 1, 2, 3}, use_cache=False) == ()
    frozen = {**resnet, "frozen_stages": 1}
    assert unreached_parameters(frozen, {0}, use_cache=False) == on_cpu(frozen, {0})
    assert unreached_parameters(resnet, {-1}) == unreached_parameters(resnet, {3}) == ()  # cached alike


@pytest.mark.parametrize("library", ["torch", "otxgen", "mmdet", "mmseg", "mmpretrain", "timm", "torchvision"])
def test_installed_versions_are_the_metadata_versions(library: str) -> None:
    """The shape cache's key reads versions from the .dist-info folder names; the metadata agrees."""
    from importlib.metadata import version

    from otxgen.facts.libraries import DISTRIBUTIONS
    from otxgen.shape_cache import installed_version

    assert installed_version(library) == version(DISTRIBUTIONS.get(library, library))


def test_an_absent_distribution_has_no_version() -> None:
    from otxgen.shape_cache import installed_version

    assert installed_version("no-such-distribution-otxgen") == "missing"
