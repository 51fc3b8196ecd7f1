"""Deployment readiness of swapped models: OpenVINO export of the 7 templates and of 20+ backbones
(six libraries) swapped into the templates, each checked against PyTorch by ``smoke --export``.

For every model: did the export convert and match (within the documented tolerance), its largest
absolute error, conversion time, and OpenVINO's CPU latency against PyTorch's (medians of 5 runs,
one thread each). Failures are listed with their reason. Prints the detailed table, then the
``BENCHROW`` lines ``run_all.py`` collects. Imports torch, the mm stack and openvino: needs the
[mm] and [export] extras.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import emit_row

SIZE = 224  # segmentation models use their own default size (LR-ASPP needs 512)
# (template, backbone, --set) swapped in: the six libraries, CNNs and transformers
SWAPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("classification-efficientnet-b0", "mmdet.ResNet", ("depth=18",)),
    ("classification-efficientnet-b0", "mmdet.RegNet", ()),
    ("classification-efficientnet-b0", "mmpretrain.ConvNeXt", ("arch=tiny",)),
    ("classification-efficientnet-b0", "mmpretrain.MobileNetV3", ("arch=small",)),
    ("classification-efficientnet-b0", "mmpretrain.RegNet", ()),
    ("classification-efficientnet-b0", "mmseg.MobileNetV3", ()),
    ("classification-efficientnet-b0", "torchvision.resnet18", ()),
    ("classification-efficientnet-b0", "torchvision.mobilenet_v3_large", ()),
    ("classification-efficientnet-b0", "torchvision.efficientnet_b0", ()),
    ("classification-efficientnet-b0", "pytorchcv.mobilenetv2_w1", ()),
    ("classification-efficientnet-b0", "pytorchcv.resnet18", ()),
    ("classification-efficientnet-b0", "timm.resnet18", ()),
    ("classification-efficientnet-b0", "timm.efficientnet_b0", ()),
    ("classification-efficientnet-b0", "timm.convnext_atto", ()),
    ("classification-efficientnet-b0", "timm.mobilenetv3_large_100", ()),
    ("classification-efficientnet-b0", "timm.regnetx_002", ()),
    ("classification-efficientnet-b0", "timm.swin_tiny_patch4_window7_224", ()),
    ("classification-efficientnet-b0", "timm.ghostnet_100", ()),
    ("classification-efficientnet-b0", "timm.mobilevit_xs", ()),
    ("detection-atss-mobilenetv2", "timm.resnet18", ()),
    ("detection-atss-mobilenetv2", "torchvision.resnet18", ()),
    ("segmentation-lraspp-mobilenetv3", "timm.efficientnet_b0", ()),
)


@dataclass(frozen=True)
class Row:
    model: str
    backbone: str
    state: str
    max_abs: float
    max_rel: float
    convert_s: float
    ov_ms: float
    torch_ms: float
    reason: str


def quiet(_: str) -> None:
    pass


def templates() -> list[tuple[str, str]]:
    from otxgen.workspace import list_templates

    return [(template.id, template.task) for template in list_templates()]


def workspace(folder: Path, template: str, task: str) -> Path:
    from otxgen.app.build import build_task
    from otxgen.options import BuildTaskOptions

    build_task(BuildTaskOptions(task, template, folder), quiet)
    return folder


def swapped(root: Path, template: str, task: str, backbone: str, sets: tuple[str, ...]) -> Path:
    from otxgen.app.build import build_backbone
    from otxgen.options import BuildBackboneOptions

    folder = workspace(root / f"{template}--{backbone}", template, task)
    overrides = tuple((key, value) for key, _, value in (item.partition("=") for item in sets))
    build_backbone(BuildBackboneOptions(backbone, overrides, workspace=folder, smoke=False), quiet)
    return folder / "model.py"


def exported(model: Path, backbone: str) -> Row:
    from otxgen.smoke.run import run_smoke

    try:
        size = None if model.parent.name.startswith("segmentation") else SIZE
        result = run_smoke(model, "cpu", size, False, quiet, "openvino")
    except Exception as error:  # noqa: BLE001 - a model that does not even build is a row too
        return Row(model.parent.name, backbone, "failed", 0.0, 0.0, 0.0, 0.0, 0.0, f"{type(error).__name__}: {error}")
    step = result.export
    data = step.data if step is not None else {}
    reason = step.detail if step is not None and step.state != "ok" else result.forward.detail
    return Row(
        model.parent.name,
        backbone or result.backbone_type,
        str(data.get("state", step.state if step else "skipped")),
        float(data.get("max_abs", 0.0)),
        float(data.get("max_rel", 0.0)),
        float(data.get("convert_s", 0.0)),
        float(data.get("runtime_ms", 0.0)),
        float(data.get("torch_ms", 0.0)),
        reason,
    )


def main() -> int:
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for template, task in templates():
            rows.append(exported(workspace(root / template, template, task) / "model.py", ""))
            print(f"  {rows[-1].model}: {rows[-1].state}", file=sys.stderr, flush=True)
        tasks = dict(templates())
        for template, backbone, sets in SWAPS:
            try:
                model = swapped(root, template, tasks[template], backbone, sets)
            except Exception as error:  # noqa: BLE001 - a swap otxgen refuses is a row too
                rows.append(Row(template, backbone, "refused", 0.0, 0.0, 0.0, 0.0, 0.0, str(error)))
                continue
            rows.append(exported(model, backbone))
            print(f"  {template} <- {backbone}: {rows[-1].state}", file=sys.stderr, flush=True)
    print_table(rows, time.perf_counter() - start)
    return emit(rows)


def print_table(rows: list[Row], seconds: float) -> None:
    print(f"OpenVINO export at {SIZE}x{SIZE} (segmentation: its own size), CPU, f32, one thread ({seconds:.0f} s)")
    print(
        "| model | backbone | export | max abs error | max rel error | convert s | OpenVINO ms | PyTorch ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row.ov_ms / row.torch_ms:.2f}" if row.torch_ms and row.ov_ms else "-"
        print(
            f"| {row.model} | {row.backbone or '(template)'} | {row.state} | {row.max_abs:.2g} | {row.max_rel:.2g} | "
            f"{row.convert_s:.1f} | {row.ov_ms:.1f} | {row.torch_ms:.1f} | {ratio} |"
        )
    for row in rows:
        if row.state != "ok":
            print(f"- {row.model} {row.backbone}: {row.state}: {row.reason}")


def emit(rows: list[Row]) -> int:
    good = [row for row in rows if row.state == "ok"]
    rate = 100.0 * len(good) / len(rows)
    emit_row(f"export: OpenVINO success of {len(rows)} models", rate, None, "%", "report", True)
    worst = max((row.max_rel for row in good), default=0.0)
    emit_row("export: largest error / output scale of the successes", worst, None, "", "<= 1e-3 + 1e-4/scale", True)
    ratios = [row.ov_ms / row.torch_ms for row in good if row.torch_ms]
    median = statistics.median(ratios) if ratios else 0.0
    emit_row("export: OpenVINO / PyTorch CPU latency, median", median, 1.0, "ratio", "report", True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
