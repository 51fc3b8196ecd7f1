"""Library adapters against the real, installed libraries (no mocks)."""

from __future__ import annotations

import pytest
import torch

from otxgen.errors import UsageError
from otxgen.libraries import get_adapter, resolve_library, split_type


@pytest.mark.parametrize(
    ("name", "canonical"), [("mmcls", "mmpretrain"), ("omz.mmcls", "mmpretrain"), ("MMDET", "mmdet")]
)
def test_aliases_resolve(name: str, canonical: str) -> None:
    assert resolve_library(name) == canonical


def test_unknown_library_names_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown library 'mmdett' \(did you mean 'mmdet'\?\); valid: mmdet, mmseg"):
        resolve_library("mmdett")


def test_split_type_resolves_the_alias() -> None:
    assert split_type("omz.mmcls.ResNet") == ("mmpretrain", "ResNet")


def test_mmdet_lists_its_real_backbones() -> None:
    names = [e.name for e in get_adapter("mmdet").entries()]
    assert len(names) >= 18
    assert {"ResNet", "RegNet", "SwinTransformer", "CSPDarknet", "HRNet"} <= set(names)


def test_mmseg_helpers_are_excluded_with_a_reason() -> None:
    adapter = get_adapter("mmseg")
    names = {e.name for e in adapter.entries()}
    assert "UNet" in names and "MobileNetV3" in names
    assert "DeconvModule" not in names and "InterpConv" not in names
    assert "not exported as a backbone" in adapter.excluded()["InterpConv"]


def test_mmpretrain_lists_many_backbones_without_the_abstract_base() -> None:
    names = {e.name for e in get_adapter("mmcls").entries()}
    assert len(names) >= 10 and "ConvNeXt" in names and "BaseBackbone" not in names


def _through_mmdet(cfg: dict[str, object]) -> torch.nn.Module:
    import mmdet.models  # noqa: F401 - registers mmdet's modules
    from mmdet.registry import MODELS

    module: torch.nn.Module = MODELS.build(cfg)
    return module


def test_torchvision_resnet50_builds_in_mmdets_registry_with_stride_stages() -> None:
    import otxgen.libraries.torchvision  # noqa: F401 - the custom_imports module

    backbone = _through_mmdet(dict(type="torchvision.resnet50", out_indices=(0, 1, 2, 3))).eval()
    with torch.no_grad():
        outs = backbone(torch.zeros(1, 3, 128, 128))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 32, 32), (1, 512, 16, 16), (1, 1024, 8, 8), (1, 2048, 4, 4)]


def test_pytorchcv_model_builds_in_mmdets_registry() -> None:
    import otxgen.libraries.pytorchcv  # noqa: F401

    backbone = _through_mmdet(dict(type="pytorchcv.mobilenetv2_w1", out_indices=(1, 3))).eval()
    with torch.no_grad():
        outs = backbone(torch.zeros(1, 3, 128, 128))
    assert [tuple(o.shape)[2:] for o in outs] == [(16, 16), (4, 4)]  # strides 8 and 32
    assert backbone.out_strides == (8, 32)


def test_frozen_stages_and_norm_eval() -> None:
    import otxgen.libraries.torchvision  # noqa: F401

    backbone = _through_mmdet(dict(type="torchvision.resnet18", frozen_stages=1, norm_eval=True)).train()
    first_frozen = backbone.layers[0]
    last = backbone.layers[-1]
    assert not any(p.requires_grad for p in first_frozen.parameters())
    assert all(p.requires_grad for p in last.parameters())
    assert not any(m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


def _frozen_shapes(backbone: torch.nn.Module) -> list[tuple[int, ...]]:
    backbone.train()
    return [tuple(p.shape) for p in backbone.parameters() if not p.requires_grad]


@pytest.mark.parametrize("frozen_stages", [-1, 0, 1, 2, 3, 4])
def test_wrappers_freeze_what_mm_resnet_freezes(frozen_stages: int) -> None:
    """``frozen_stages`` means what it means in mm backbones (0: the stem, k: the stem and k stages),
    so a value carried over from an mm config freezes the same layers: mmdet's own ResNet-18 and the
    three wrappers' resnet18 (the same network) freeze the same parameters, in the same order."""
    import otxgen.libraries.pytorchcv
    import otxgen.libraries.torchvision  # noqa: F401
    from otxgen.libraries.timm import ADAPTER

    mm = _frozen_shapes(_through_mmdet(dict(type="ResNet", depth=18, frozen_stages=frozen_stages)))
    assert bool(mm) == (frozen_stages >= 0)
    for wrapped in ("torchvision.resnet18", "pytorchcv.resnet18"):
        assert _frozen_shapes(_through_mmdet(dict(type=wrapped, frozen_stages=frozen_stages))) == mm, wrapped
    assert _frozen_shapes(ADAPTER.build("resnet18", frozen_stages=frozen_stages)) == mm, "timm.resnet18"


def test_out_indices_out_of_range_is_a_clear_error() -> None:
    import otxgen.libraries.torchvision  # noqa: F401

    with pytest.raises(ValueError, match=r"out_indices \(0, 7\) must be within 0..3"):
        _through_mmdet(dict(type="torchvision.resnet18", out_indices=(0, 7)))


def test_torchvision_exclusions_are_recorded() -> None:
    adapter = get_adapter("torchvision")
    excluded = adapter.excluded()
    assert "vit_b_16" in excluded and "resnet50" not in excluded
    assert len(adapter.entries()) >= 10


def test_backbones_needing_a_missing_package_are_excluded() -> None:
    """The two forms the libraries use for an optional package, on the real mmpretrain decorator and a
    module that imported a package it does not have as ``x = None`` (timm itself is installed here, so
    mmseg's and mmpretrain's TIMMBackbone are offered: the last assertion)."""
    import sys
    import types

    from mmpretrain.utils import require

    from otxgen.libraries.mm import _missing_optional_package

    module = types.ModuleType("otxgen_test_optional")
    module.otxgen_absent_package = None  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:

        class Imported:
            pass

        class Declared:
            @require("otxgen_absent_package")
            def __init__(self) -> None:
                pass

        Imported.__module__ = Declared.__module__ = module.__name__
        assert _missing_optional_package(Imported) == "otxgen_absent_package"
        assert "otxgen_absent_package" in str(_missing_optional_package(Declared))
    finally:
        del sys.modules[module.__name__]
    for library in ("mmpretrain", "mmseg"):
        assert "TIMMBackbone" in {e.name for e in get_adapter(library).entries()}


def test_mm_build_runs_in_the_librarys_scope() -> None:
    # mmseg's UNet builds its upsampling blocks by unscoped type: it needs mmseg's default scope
    assert type(get_adapter("mmseg").build("UNet")).__name__ == "UNet"


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_a_wrapper_adapter_builds_its_own_types_whatever_the_default_scope(
    library: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """mmengine builds in the current default scope when one is set; an mm library's must not hide
    the wrapper's registry (a test that ran before had left mmseg's). And no warning of mmengine's
    reaches the user: a registry build in the wrapper's scope made it look for a ``timm.registry``
    module and print "Failed to import `None.registry`" into a build's output (a hostile pass)."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmseg"):
        assert type(get_adapter(library).build("resnet18")).__name__ == "resnet18"
    assert "registry" not in capsys.readouterr().out


@pytest.mark.parametrize("backbone", ["torchvision.resnet18", "pytorchcv.resnet10", "timm.resnet18"])
def test_the_wrappers_count_negative_out_indices_from_the_end_as_mm_backbones_do(backbone: str) -> None:
    """validate takes ``out_indices=[-1]`` (mm backbones do); so must the wrappers (they raised)."""
    from otxgen.shapes import probe_outputs

    last = probe_outputs({"type": backbone, "out_indices": [-1]}, tier="meta", use_cache=False)
    every = probe_outputs({"type": backbone, "out_indices": [0, 1, 2, 3]}, tier="meta", use_cache=False)
    assert [(o.channels, o.stride) for o in last.outputs] == [(o.channels, o.stride) for o in every.outputs[-1:]]


@pytest.mark.parametrize("backbone", ["torchvision.resnet18", "pytorchcv.resnet10", "timm.resnet18"])
def test_the_wrappers_give_one_map_per_out_indices_entry_in_their_order(backbone: str) -> None:
    """otxgen's wrappers give what their ``out_strides`` say: a map per entry, in the entries' order, a
    stage asked for twice twice (LR-ASPP's strides 4, 4, 8 from a ResNet, ``out_indices=(0, 0, 1)``)."""
    library, _ = split_type(backbone)
    model = get_adapter(library).build(backbone.partition(".")[2], out_indices=(2, 0, 0, 1))
    model.eval()
    with torch.no_grad():
        maps = model(torch.zeros(1, 3, 64, 64))
    assert [64 // m.shape[-1] for m in maps] == [16, 4, 4, 8] == list(model.out_strides)
