"""Smoke-build the default workspace templates and a few swapped backbones on a CUDA GPU, with one
training step each, and print the timings (build, backbone probe, whole-model forward, train step).

    python benchmarks/gpu_smoke.py                 # cuda; exits 77 with a visible reason without one
    python benchmarks/gpu_smoke.py --device cpu    # the same cases on the CPU (checks the script itself)

Exit codes: 0 every case passed; 1 at least one case failed (its verdict says why); 77 skipped because
no CUDA device is visible (the automake / meson convention for "skipped", so CI shows it as skipped,
never as passed). On the GPU machine, mmcv must be built with its CUDA ops (``MMCV_WITH_OPS=1
FORCE_CUDA=1``): a CPU-only mmcv fails the two-stage detectors there (nms / RoIAlign on CUDA tensors),
and the verdicts say so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEMPLATES = ROOT / "otxgen" / "templates"
SKIPPED = 77
Edit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    edit: Edit | None = None  # changes the model dict: the swapped backbone and its neck / head channels
    imports: tuple[str, ...] = ()  # custom_imports the swapped backbone needs


def _swap(
    backbone: dict[str, Any], neck: list[int] | None = None, head: int | None = None, decode: list[int] | None = None
) -> Edit:
    def edit(model: dict[str, Any]) -> None:
        model["backbone"] = backbone
        if neck is not None:
            model["neck"]["in_channels"] = neck
        if head is not None:
            model["head"]["in_channels"] = head
        if decode is not None:
            model["decode_head"]["in_channels"] = decode

    return edit


CASES = (
    Case("classification default", "classification-efficientnet-b0"),
    Case("detection default", "detection-atss-mobilenetv2"),
    Case("instance-segmentation default", "instance-segmentation-maskrcnn-r50"),
    Case("segmentation default", "segmentation-hrnet18-fcn"),
    Case(
        "ATSS + mmdet.ResNet-18",
        "detection-atss-mobilenetv2",
        _swap(dict(type="mmdet.ResNet", depth=18, out_indices=(0, 1, 2, 3)), neck=[64, 128, 256, 512]),
    ),
    Case(
        "ATSS + mmpretrain.ConvNeXt-T",
        "detection-atss-mobilenetv2",
        _swap(
            dict(type="mmpretrain.ConvNeXt", arch="tiny", out_indices=(0, 1, 2, 3), gap_before_final_norm=False),
            neck=[96, 192, 384, 768],
        ),
    ),
    Case(
        "Mask R-CNN + torchvision.resnet50",
        "instance-segmentation-maskrcnn-r50",
        _swap(dict(type="torchvision.resnet50", out_indices=(0, 1, 2, 3)), neck=[256, 512, 1024, 2048]),
        ("otxgen.libraries.torchvision",),
    ),
    Case(
        "FCN + mmpretrain.ResNet-18",
        "segmentation-hrnet18-fcn",
        _swap(dict(type="mmpretrain.ResNet", depth=18, out_indices=(0, 1, 2, 3)), decode=[64, 128, 256, 512]),
    ),
    Case(
        "classifier + pytorchcv.resnet18",
        "classification-efficientnet-b0",
        _swap(dict(type="pytorchcv.resnet18", out_indices=(3,)), head=512),
        ("otxgen.libraries.pytorchcv",),
    ),
)


def write_case(case: Case, folder: Path) -> Path:
    """The template's model.py, or a copy with the backbone swapped (dumped by mmengine: fine for a benchmark)."""
    source = TEMPLATES / case.template / "model.py"
    if case.edit is None:
        return source
    from mmengine.config import Config

    config = Config.fromfile(str(source))
    model = config.model.to_dict()
    case.edit(model)
    config.model = model
    if case.imports:
        config.custom_imports = dict(imports=list(case.imports), allow_failed_imports=False)
    target = folder / f"{case.name.replace(' ', '_').replace('+', 'with')}.py"
    config.dump(str(target))
    return target


def run_case(case: Case, folder: Path, device: str, size: int | None) -> tuple[bool, str]:
    from otxgen.smoke.report import verdict
    from otxgen.smoke.run import run_smoke

    path = write_case(case, folder)
    start = time.perf_counter()
    result = run_smoke(path, device, size, True, lambda _message: None)
    total = time.perf_counter() - start
    times = "  ".join(f"{k} {v:6.2f}" for k, v in result.seconds.items())
    return result.ok, f"{case.name:<36} {total:6.2f} s  ({times})\n    {verdict(result)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--input-size", type=int, help="default: each model's own")
    options = parser.parse_args(argv)
    import torch

    if options.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device (torch.cuda.is_available() is False); exit 77 means skipped, not passed")
        return SKIPPED
    where = torch.cuda.get_device_name(0) if options.device == "cuda" else "cpu"
    print(f"smoke-build with one train step on {where}, torch {torch.__version__}")
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            ok, line = run_case(case, Path(folder), options.device, options.input_size)
            failed += not ok
            print(line, flush=True)
    print(f"{len(CASES) - failed}/{len(CASES)} cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
