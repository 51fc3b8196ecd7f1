"""Benchmark: the shape service's tiers vs the OTX 1.x method, against a real forward, on 20+ backbones.

For each backbone (five libraries) this measures, in one process, per-call wall time
(``time.perf_counter``) and correctness of:

* ``otxgen.shapes.probe_outputs`` with ``use_cache=False``: the default path (``tier="auto"``) and each
  tier on its own (``static`` where the schema's table applies, ``meta``, ``fake``, ``forward``);
* the OTX 1.x method: build the backbone through the library's registry, leave it in train mode, run a
  forward with gradients on a random 2x3x64x64 batch, take the output shapes (64x64 is too small for some
  backbones: those attempts fail and are counted);
* the reference: a real eval forward on CPU at 224 (or the backbone's own ``img_size``).

Correct = the same outputs as the reference: count, channels, stride (4-D maps) and ndim (a pooled
``(N, C)`` vector must stay one). Timings are medians of ``--repeats`` calls for the cheap paths (auto,
static, meta, fake) and ``--forward-repeats`` for the forward paths (forward tier, OTX); the stack
(torch, mmdet, mmseg, mmpretrain, torchvision, pytorchcv) is imported once beforehand, and the reference
forward runs first for each backbone, so neither import time nor first-use lazy imports are counted.
torch runs with one intra-op thread (``--threads``) for every path alike: on a 2-core machine shared with
other work, two OpenMP threads stall at barriers and a ResNet-50 forward swings from 0.2 to 5 s.

Targets: the default path's median <= 0.2 x the OTX method's median, and correct on every backbone.

    cd benchmarks && python bench_shapes.py [--repeats 5] [--forward-repeats 3] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import copy
import inspect
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import emit_row

RATIO_TARGET = 0.2
OTX_INPUT = 64
REFERENCE_INPUT = 224
HRNET_W18 = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(64,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(4, 4), num_channels=(18, 36)),
    stage3=dict(num_modules=4, num_branches=3, block="BASIC", num_blocks=(4, 4, 4), num_channels=(18, 36, 72)),
    stage4=dict(num_modules=3, num_branches=4, block="BASIC", num_blocks=(4, 4, 4, 4), num_channels=(18, 36, 72, 144)),
)
BACKBONES: list[dict[str, Any]] = [
    dict(type="mmdet.ResNet", depth=50),
    dict(type="mmdet.RegNet", arch="regnetx_400mf"),
    dict(type="mmdet.CSPDarknet", deepen_factor=0.33, widen_factor=0.5),
    dict(type="mmdet.HRNet", extra=HRNET_W18),
    dict(type="mmdet.SwinTransformer"),
    dict(type="mmdet.MobileNetV2"),
    dict(type="mmseg.MobileNetV3", arch="large"),
    dict(type="mmseg.BiSeNetV2"),
    dict(type="mmseg.MixVisionTransformer", embed_dims=32, num_heads=[1, 2, 5, 8], num_layers=[2, 2, 2, 2]),  # B0
    dict(type="mmseg.VisionTransformer", embed_dims=384, num_heads=6),  # ViT-S: the table is for ViT-B
    dict(type="mmseg.ResNetV1c", depth=18),
    dict(type="mmpretrain.ConvNeXt", arch="atto", out_indices=(0, 1, 2, 3), gap_before_final_norm=False),
    dict(type="mmpretrain.EfficientNet", arch="b0"),
    dict(type="mmpretrain.ResNet", depth=18),
    dict(type="mmpretrain.VisionTransformer", arch="deit-small"),
    dict(type="mmpretrain.SwinTransformer", arch="tiny"),
    dict(type="mmpretrain.SwinTransformerV2", arch="tiny"),  # its own img_size: 256
    dict(type="mmpretrain.DaViT", arch="t"),
    dict(type="mmpretrain.EfficientFormer", arch="l1"),  # fixed-size attention biases
    dict(type="mmpretrain.LeViT", arch="128s"),
    dict(type="torchvision.resnet50"),
    dict(type="torchvision.mobilenet_v3_large"),
    dict(type="torchvision.efficientnet_b0"),
    dict(type="pytorchcv.mobilenetv2_w1"),
    dict(type="pytorchcv.resnet18"),
]
Signature = tuple[tuple[int | None, int | None, int], ...]  # (channels, stride, ndim) per output


@dataclass
class Timed:
    """Median milliseconds of the calls, the last call's signature, or the error that stopped it."""

    ms: float | None = None
    first_ms: float | None = None  # the first call: in-process caches (the schema store's) still cold
    signature: Signature | None = None
    error: str | None = None
    tier: str | None = None

    def correct(self, reference: Signature) -> bool:
        return self.signature == reference


@dataclass
class Row:
    label: str
    reference: Signature
    reference_size: int
    paths: dict[str, Timed] = field(default_factory=dict)


# ---- the stack, the reference and the OTX 1.x method (independent of otxgen.shapes) --------------------


def import_stack() -> None:
    """Import everything once, before any timing."""
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    import torch  # noqa: F401

    import otxgen.libraries.pytorchcv
    import otxgen.libraries.torchvision
    import otxgen.shapes  # noqa: F401


def registry_build(backbone_cfg: dict[str, Any]) -> Any:
    """Build through the library's MODELS registry in its own scope, as OTX 1.x did."""
    import contextlib

    from mmengine.registry import DefaultScope

    from otxgen.libraries import get_adapter, split_type

    library, name = split_type(backbone_cfg["type"])
    args = copy.deepcopy({k: v for k, v in backbone_cfg.items() if k != "type"})
    scope = DefaultScope.overwrite_default_scope(library) if library.startswith("mm") else contextlib.nullcontext()
    with scope:
        return get_adapter(library).build(name, **args)


def tensor_shapes(value: Any) -> list[tuple[int, ...]]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [shape for item in value for shape in tensor_shapes(item)]
    return [tuple(value.shape)] if hasattr(value, "shape") else []


def stride_of(size: int, side: int) -> int:
    """The power of two whose ceil or floor division of ``size`` gives ``side``, else the exact ratio."""
    for power in range(8):
        if -(-size // 2**power) == side or size // 2**power == side:
            return 2**power
    return round(size / side)


def signature(shapes: list[tuple[int, ...]], size: int) -> Signature:
    return tuple(
        (s[1] if len(s) >= 2 else None, stride_of(size, s[2]) if len(s) == 4 else None, len(s)) for s in shapes
    )


def own_input_size(backbone_cfg: dict[str, Any], model: Any) -> int:
    """The config's or the class's ``img_size`` (fixed-size patch/window models), else 224."""
    size = backbone_cfg.get("img_size")
    if size is None:
        parameter = inspect.signature(type(model).__init__).parameters.get("img_size")
        size = parameter.default if parameter is not None else None
    if isinstance(size, (list, tuple)):
        size = size[0]
    return size if isinstance(size, int) and size >= 32 else REFERENCE_INPUT


def reference(backbone_cfg: dict[str, Any]) -> tuple[Signature, int]:
    """A real eval forward on CPU at the backbone's own size."""
    import torch

    model = registry_build(backbone_cfg)
    model.eval()  # mmdet's ResNet.train() returns None, so no chaining
    size = own_input_size(backbone_cfg, model)
    with torch.no_grad():
        shapes = tensor_shapes(model(torch.rand(1, 3, size, size)))
    return signature(shapes, size), size


def otx1_method(backbone_cfg: dict[str, Any]) -> Signature:
    """OTX 1.x: construct, train mode, forward with autograd on a random 2x3x64x64 batch, read the shapes."""
    import torch

    model = registry_build(backbone_cfg)
    model.train()
    with torch.enable_grad():
        shapes = tensor_shapes(model(torch.rand(2, 3, OTX_INPUT, OTX_INPUT)))
    return signature(shapes, OTX_INPUT)


# ---- timing ---------------------------------------------------------------------------------------------


def timed(call: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Milliseconds of each of ``repeats`` calls and the last call's result."""
    samples, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def measure_probe(backbone_cfg: dict[str, Any], tier: str, repeats: int) -> Timed:
    from otxgen.shapes import probe_outputs

    try:
        samples, result = timed(lambda: probe_outputs(backbone_cfg, tier=tier, use_cache=False), repeats)
    except Exception as error:  # noqa: BLE001 - a failing tier is a result of the benchmark
        return Timed(error=short(error))
    outputs = tuple((o.channels, o.stride, o.ndim) for o in result.outputs)
    return Timed(statistics.median(samples), samples[0], outputs, tier=result.tier)


def measure_otx(backbone_cfg: dict[str, Any], repeats: int) -> Timed:
    start = time.perf_counter()
    try:
        samples, result = timed(lambda: otx1_method(backbone_cfg), repeats)
    except Exception as error:  # noqa: BLE001 - the OTX method's failures are counted
        return Timed((time.perf_counter() - start) * 1000, error=short(error))
    return Timed(statistics.median(samples), samples[0], result)


def short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:160]


def bench_one(backbone_cfg: dict[str, Any], repeats: int, forward_repeats: int) -> Row:
    from otxgen.shapes import static_from_store

    ref, size = reference(backbone_cfg)
    row = Row(label(backbone_cfg), ref, size)
    row.paths["auto"] = measure_probe(backbone_cfg, "auto", repeats)
    if static_from_store(backbone_cfg) is not None:
        row.paths["static"] = measure_probe(backbone_cfg, "static", repeats)
    row.paths["meta"] = measure_probe(backbone_cfg, "meta", repeats)
    row.paths["fake"] = measure_probe(backbone_cfg, "fake", repeats)
    row.paths["forward"] = measure_probe(backbone_cfg, "forward", forward_repeats)
    row.paths["otx"] = measure_otx(backbone_cfg, forward_repeats)
    return row


def label(backbone_cfg: dict[str, Any]) -> str:
    args = [f"{k}={v}" for k, v in backbone_cfg.items() if k in ("depth", "arch") and v is not None]
    extra = " +extra" if "extra" in backbone_cfg else ""
    return backbone_cfg["type"] + (f"({', '.join(args)})" if args else "") + extra


# ---- report ---------------------------------------------------------------------------------------------


def cell(row: Row, path: str) -> str:
    """Milliseconds; ``!`` marks a result that differs from the reference; ``fail`` an error; ``-`` n/a."""
    timed_path = row.paths.get(path)
    if timed_path is None:
        return "-"
    if timed_path.error is not None or timed_path.ms is None:
        return "fail"
    digits = 2 if timed_path.ms < 10 else 1
    return f"{timed_path.ms:.{digits}f}" + ("" if timed_path.correct(row.reference) else "!")


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'backbone':<46} {'auto tier':<9} {'auto ms':>8} {'static ms':>9} {'meta ms':>8} {'fake ms':>8} "
        f"{'fwd ms':>8} {'OTX ms':>8} {'OTX ok':>6} {'correct':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        auto, otx = row.paths["auto"], row.paths["otx"]
        otx_state = "fail" if otx.error else ("yes" if otx.correct(row.reference) else "wrong")
        tier_ok = [p for p in ("auto", "static", "meta", "fake", "forward") if p in row.paths]
        good = sum(row.paths[p].correct(row.reference) for p in tier_ok)
        print(
            f"{row.label:<46} {auto.tier or 'fail':<9} {cell(row, 'auto'):>8} {cell(row, 'static'):>9} "
            f"{cell(row, 'meta'):>8} {cell(row, 'fake'):>8} {cell(row, 'forward'):>8} {cell(row, 'otx'):>8} "
            f"{otx_state:>6} {f'{good}/{len(tier_ok)}':>8}"
        )


def print_details(rows: list[Row]) -> None:
    """The reference outputs, then every failure and every wrong result with both answers."""
    print("\nreference outputs (channels/stride, 'p' = pooled, not 4-D):")
    for row in rows:
        outputs = " ".join(f"{c}/{s}" if nd == 4 else f"{c}/p{nd}" for c, s, nd in row.reference)
        print(f"  {row.label:<46} @{row.reference_size}: {outputs}")
    print("\nfailures and wrong results:")
    for row in rows:
        for path, result in row.paths.items():
            if result.error:
                print(f"  {row.label} [{path}] {result.error}")
            elif not result.correct(row.reference):
                print(f"  {row.label} [{path}] got {result.signature}, reference {row.reference}")


def ms_text(ms: float) -> str:
    return f"{ms:.3f}" if ms < 1 else f"{ms:.1f}"


def summarize(rows: list[Row], elapsed_s: float) -> bool:
    count = len(rows)
    auto_ms = [r.paths["auto"].ms for r in rows if r.paths["auto"].ms is not None]
    otx_ms = [r.paths["otx"].ms for r in rows if r.paths["otx"].ms is not None]
    auto_median, otx_median = statistics.median(auto_ms), statistics.median(otx_ms)
    ratio = auto_median / otx_median
    auto_correct = sum(r.paths["auto"].correct(r.reference) for r in rows)
    otx_correct = sum(r.paths["otx"].correct(r.reference) for r in rows)
    otx_failed = sum(r.paths["otx"].error is not None for r in rows)
    per_backbone = [
        r.paths["auto"].ms / r.paths["otx"].ms for r in rows if r.paths["auto"].ms is not None and r.paths["otx"].ms
    ]
    tiers = statistics.multimode([r.paths["auto"].tier for r in rows])
    tier_counts = {t: sum(r.paths["auto"].tier == t for r in rows) for t in ("static", "meta", "fake", "forward")}
    print(
        f"\nsummary over {count} backbones (per-call wall time in-process; the stack was imported once before "
        f"timing, import time is not counted; OTX time of a failing backbone is its failed attempt):"
    )
    print(
        f"  default path (auto, no cache): median {ms_text(auto_median)} ms; "
        f"OTX 1.x method: median {ms_text(otx_median)} ms; "
        f"ratio {ratio:.5f} (target <= {RATIO_TARGET}); per-backbone ratio median "
        f"{statistics.median(per_backbone):.5f}"
    )
    first = [r.paths["auto"].first_ms for r in rows if r.paths["auto"].first_ms is not None]
    print(
        f"  default path, first call per backbone (schema file not yet cached in process): median "
        f"{statistics.median(first):.2f} ms, max {max(first):.1f} ms"
    )
    answered = ", ".join(f"{t} {n}" for t, n in tier_counts.items())
    print(f"  auto answered from: {answered} (most: {', '.join(map(str, tiers))})")
    print(
        f"  correct vs reference: otxgen auto {auto_correct}/{count}; OTX 1.x {otx_correct}/{count} "
        f"({otx_failed} failed to run, {count - otx_failed - otx_correct} ran but wrong)"
    )
    for tier in ("static", "meta", "fake", "forward"):
        present = [r for r in rows if tier in r.paths]
        good = sum(r.paths[tier].correct(r.reference) for r in present)
        failed = sum(r.paths[tier].error is not None for r in present)
        medians = [r.paths[tier].ms for r in present if r.paths[tier].ms is not None]
        median = f"{ms_text(statistics.median(medians))} ms" if medians else "-"
        print(f"  tier {tier:<7}: correct {good}/{len(present)}, failed {failed}, median {median}")
    probed = [r for r in rows if r.paths["auto"].tier not in (None, "static") and r.paths["otx"].ms]
    probe_ratio = None
    if probed:
        probe_ms = statistics.median(r.paths["auto"].ms or 0.0 for r in probed)
        probe_otx_ms = statistics.median(r.paths["otx"].ms or 0.0 for r in probed)
        probe_ratio = probe_ms / probe_otx_ms
        print(
            f"  where no static table applies ({len(probed)} backbones): auto median {probe_ms:.1f} ms vs OTX "
            f"{probe_otx_ms:.1f} ms on the same backbones, ratio {probe_ratio:.2f}"
        )
    print(f"  whole benchmark: {elapsed_s:.0f} s")
    emit_row(
        "shapes default path (auto, no cache) vs OTX 1.x 64x64 train forward, median ms",
        auto_median,
        otx_median,
        "ms",
        f"ratio <= {RATIO_TARGET}",
        ratio <= RATIO_TARGET,
    )
    emit_row(
        f"shapes correct backbones of {count}: otxgen auto vs OTX 1.x",
        float(auto_correct),
        float(otx_correct),
        "backbones",
        f"{count}/{count}",
        auto_correct == count,
    )
    if probe_ratio is not None:
        emit_row(
            "shapes auto where no static table applies vs OTX 1.x, median ms (informative)",
            probe_ms,
            probe_otx_ms,
            "ms",
            "none",
            True,
        )
    return ratio <= RATIO_TARGET and auto_correct == count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="calls per cheap path (auto, static, meta, fake)")
    parser.add_argument("--forward-repeats", type=int, default=3, help="calls per forward path (forward, OTX)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads for every path (1: stable on a shared machine)"
    )
    parser.add_argument("--only", default="", help="only backbones whose type contains this")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import_stack()
    import torch

    torch.set_num_threads(args.threads)
    print(
        f"stack imported in {time.perf_counter() - start:.1f} s (not counted in any timing below); "
        f"torch threads: {torch.get_num_threads()} for every path",
        flush=True,
    )
    chosen = [b for b in BACKBONES if args.only.lower() in b["type"].lower()]
    rows = []
    for backbone_cfg in chosen:
        rows.append(bench_one(backbone_cfg, args.repeats, args.forward_repeats))
        print(f"  done {rows[-1].label} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    print_table(rows)
    print_details(rows)
    return 0 if summarize(rows, time.perf_counter() - start) else 1


if __name__ == "__main__":
    sys.exit(main())
