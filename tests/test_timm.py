"""timm as a library: the committed schemas' static tables against real forwards of timm architectures
built through mmdet's registry, the templates swapped to timm backbones and trained one step, and
``find`` listing the zoo. Figures come from timm's own metadata (``feature_info``) through the schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otxgen.cli import main
from otxgen.schema import store

torch = pytest.importorskip("torch", reason="the [mm] extra is not installed")
pytest.importorskip("timm", reason="the [mm] extra is not installed")

# One architecture per family, the cheapest of each by its table's channels (read from the schemas).
FAMILIES = (
    "resnet", "resnext", "regnetx", "regnety", "efficientnet", "tf_efficientnet", "mobilenetv3", "mobilenetv2",
    "convnext", "swin", "vit", "deit", "densenet", "dla", "dpn", "ghostnet", "hrnet", "mnasnet", "rexnet",
    "res2net", "resnest", "selecsls", "semnasnet", "vgg", "xception", "cspresnet", "cspdarknet", "darknet",
    "nf_resnet", "efficientformer", "pvt_v2", "poolformer", "mobilevit", "edgenext", "maxvit", "fastvit",
    "repvgg", "hgnet", "ese_vovnet", "tresnet", "mixnet", "lcnet", "tinynet", "gernet", "regnetz", "mobileone",
)  # fmt: skip


def timm_rows() -> list[dict[str, Any]]:
    return [row for row in store.load_index()["backbones"] if row["library"] == "timm"]


def cheapest(family: str, rows: list[dict[str, Any]]) -> str | None:
    """The architecture of ``family`` whose stages have the fewest channels."""
    names = [row["type"].split(".", 1)[1] for row in rows]
    members = [n for n in names if n == family or n.startswith(f"{family}_") or n.startswith(family)]
    if not members:
        return None

    def cost(name: str) -> int:
        table = store.load_schema(f"timm.{name}")["x-otxgen"]["channels"]["table"]["default"]
        return sum(int(row["channels"]) for row in table)

    return min(members, key=lambda n: (cost(n), n))


def chosen() -> list[str]:
    rows = timm_rows()
    names = [cheapest(family, rows) for family in FAMILIES]
    return sorted({name for name in names if name is not None})


def test_enough_families_are_covered() -> None:
    assert len(chosen()) >= 40


@pytest.mark.parametrize("name", chosen())
def test_a_timm_backbone_through_mmdets_registry_gives_the_static_table(name: str) -> None:
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import otxgen.libraries.timm  # noqa: F401 - registers the timm scope

    schema = store.load_schema(f"timm.{name}")
    block = schema["x-otxgen"]["channels"]
    indices = block["default_out_indices"]
    init_default_scope("mmdet")
    model = MODELS.build({"type": f"timm.{name}", "out_indices": indices}).eval()
    side = (block.get("input_size") or [224, 224])[0]
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, side, side))
    expected = [block["table"]["default"][i] for i in indices]
    assert all(o.ndim == 4 for o in outputs), [tuple(o.shape) for o in outputs]
    assert [o.shape[1] for o in outputs] == [row["channels"] for row in expected]
    # a map is side / stride, rounded either way when the architecture's size is not a multiple of 32
    assert all(abs(o.shape[-1] - side / row["stride"]) < 1 for o, row in zip(outputs, expected, strict=True))
    assert [o.shape[-1] == o.shape[-2] for o in outputs] == [True] * len(outputs)  # NCHW, not NHWC


def test_find_lists_the_timm_zoo() -> None:
    result = CliRunner().invoke(main, ["find", "--backbone", "timm", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["backbones"]) >= 1300


TEMPLATE_SWAPS = [
    (task, backbone)
    for task in ("detection", "segmentation", "classification")
    for backbone in ("timm.resnet18", "timm.efficientnet_b0", "timm.convnext_atto")
]


@pytest.mark.parametrize(("task", "backbone"), TEMPLATE_SWAPS)
def test_templates_swapped_to_timm_train_one_step(
    task: str, backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    workspace = tmp_path / "ws"
    assert runner.invoke(main, ["build", "--task", task, "--workspace", str(workspace)]).exit_code == 0
    monkeypatch.chdir(workspace)
    built = runner.invoke(main, ["build", "--backbone", backbone, "--no-smoke"])
    assert built.exit_code == 0, built.output
    assert "otxgen.libraries.timm" in (workspace / "model.py").read_text()
    smoke = runner.invoke(main, ["smoke", "model.py", "--device", "cpu", "--train-step", "--format", "json"])
    assert smoke.exit_code == 0, smoke.output


def test_a_shipped_timmbackbone_config_is_checked_with_the_timm_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmdet's timm example (``mmpretrain.TIMMBackbone``, ``features_only=True``, timm's out_indices):
    its neck's channels are known statically, from the timm model's own levels."""
    import mmdet

    configs = Path(mmdet.__file__).parent / ".mim" / "configs"
    for folder in ("_base_", "timm_example"):
        shutil.copytree(configs / folder, tmp_path / folder)
    config = tmp_path / "timm_example" / "retinanet_timm-efficientnet-b1_fpn_1x_coco.py"
    levels = store.load_schema("timm.efficientnet_b1")["x-otxgen"]["channels"]["timm_levels"]
    expected = [row["channels"] for row in levels if row["index"] in (1, 2, 3, 4)]
    assert CliRunner().invoke(main, ["validate", str(config)]).exit_code == 0
    text = config.read_text()
    config.write_text(text.replace(f"in_channels={expected}", f"in_channels={[*expected[:-1], 1]}"))
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1
    assert f"does not match the backbone's output channels {expected}" in result.stdout


def template_ids() -> list[tuple[str, str]]:
    from otxgen.workspace import list_templates

    return [(template.task, template.id) for template in list_templates()]


@pytest.mark.parametrize(("task", "template"), template_ids())
def test_convnext_tiny_in_every_template_passes_the_smoke_build(
    task: str, template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build's own smoke-build (it executes the rewritten configs) on every model file."""
    runner = CliRunner()
    workspace = tmp_path / "ws"
    made = runner.invoke(main, ["build", "--task", task, "--template", template, "--workspace", str(workspace)])
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(workspace)
    built = runner.invoke(main, ["build", "--backbone", "timm.convnext_tiny"])
    assert built.exit_code == 0, built.output
    assert "MISMATCH" not in built.stderr and built.stderr.count("OK: ") == len(list(workspace.glob("model*.py")))


def test_frozen_stages_and_norm_eval_on_a_timm_backbone() -> None:
    """Stage 0 of resnet18 is timm's ``layer1``: ``frozen_stages=1`` freezes the stem and it (as mm's
    ResNet does), ``layer2`` on stay trainable."""
    from otxgen.libraries.timm import ADAPTER

    backbone = ADAPTER.build("resnet18", frozen_stages=1, norm_eval=True).train()
    frozen = {name for name, p in backbone.net.named_parameters() if not p.requires_grad}
    assert frozen and all(name.startswith(("conv1", "bn1", "layer1")) for name in frozen)
    assert any(name.startswith("layer1") for name in frozen)
    assert all(p.requires_grad for name, p in backbone.net.named_parameters() if name.startswith("layer2"))
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(m.training for m in norms)


def test_a_vits_stem_is_its_patch_embedding_whichever_blocks_its_stages_are() -> None:
    """A ViT's stages are the blocks timm's ``features_only`` gives (the last ones); ``frozen_stages=0``
    freezes the stem alone (patch embedding, class token, position embedding), not the blocks before
    the first stage; ``frozen_stages=1`` freezes up to the end of the first stage's block."""
    from otxgen.libraries.timm import ADAPTER

    stem = ADAPTER.build("vit_tiny_patch16_224", frozen_stages=0).train()
    frozen = [name for name, p in stem.net.named_parameters() if not p.requires_grad]
    assert frozen and not any(".blocks." in f".{name}" for name in frozen)
    assert all(p.requires_grad for name, p in stem.net.named_parameters() if ".blocks." in f".{name}")
    one = ADAPTER.build("vit_tiny_patch16_224", frozen_stages=1).train()
    first = one.stages.modules[one.stages.levels[0]]  # e.g. blocks.9
    names = [name for name, _ in one.net.named_parameters()]
    last_frozen = max(i for i, (_, p) in enumerate(one.net.named_parameters()) if not p.requires_grad)
    assert f".{first}." in f".{names[last_frozen]}" and f".{first}." not in f".{names[last_frozen + 1]}"


def test_maps_of_tiles_are_joined_where_the_tiles_lie() -> None:
    """A network run on squares of an image gives, joined, the maps it gives the whole (zero-padded)
    image when nothing crosses a square's edge (a pooling of the square's own stride), cut to
    ``ceil(side / stride)``: the joins put every square's maps in their place, for a batch of two and
    sides that are not multiples of the square."""
    import torch

    from otxgen.libraries.timm import tiled

    def maps_of(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.nn.functional.avg_pool2d(x, 4), torch.nn.functional.avg_pool2d(x, 16)

    image = torch.rand(2, 3, 50, 70)
    joined = tiled(maps_of, image, 32)
    whole = maps_of(torch.nn.functional.pad(image, (0, 96 - 70, 0, 64 - 50)))
    assert [tuple(m.shape) for m in joined] == [(2, 3, 13, 18), (2, 3, 4, 5)]
    for part, full in zip(joined, whole, strict=True):
        assert torch.equal(part, full[:, :, : part.shape[2], : part.shape[3]])
