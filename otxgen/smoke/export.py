"""Deployment readiness of a smoke-built model: export its tensor-mode forward to OpenVINO (or ONNX,
run with onnxruntime), run the export on the smoke's input, and compare with PyTorch.

What is exported is the model's tensor-mode graph: backbone, neck and head, without data pre- and
post-processing (``model(x, mode='tensor')``); for two-stage detectors, whose tensor mode needs
proposals, the backbone, neck and RPN head. OpenVINO compiles for the CPU with f32 inference
precision, so the comparison is tight: an export passes when every output element is within
``ATOL + RTOL * max|reference|`` of PyTorch's. Latencies are medians of ``RUNS`` runs after a warm-up.
Imports torch here, and openvino / onnxruntime inside the functions that need them.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from otxgen.errors import MissingExtraError
from otxgen.facts.deploys import COMPILE_FAILED, CONVERSION_FAILED, INFERENCE_FAILED

FORMATS = ("openvino", "onnx")
ATOL, RTOL = 1e-4, 1e-3
RUNS = 5
_EXTRA = {"openvino": ("openvino", "export"), "onnx": ("onnxruntime", "export-onnx")}
_OP = re.compile(r"\b([A-Za-z_][\w.]*::[A-Za-z_][\w.]*)")


@dataclass(frozen=True)
class ExportReport:
    """One export's outcome and figures (seconds, bytes, milliseconds, absolute/relative error)."""

    format: str
    state: str  # ok | failed | mismatch
    reason: str = ""
    convert_s: float = 0.0
    size_bytes: int = 0
    outputs: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    torch_ms: float = 0.0
    runtime_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def latency_ratio(self) -> float | None:
        return self.runtime_ms / self.torch_ms if self.torch_ms > 0 and self.runtime_ms > 0 else None

    def to_json(self) -> dict[str, Any]:
        tolerance = {"atol": ATOL, "rtol": RTOL}
        return asdict(self) | {"latency_ratio": self.latency_ratio, "tolerance": tolerance}


def require_runtime(fmt: str) -> None:
    """A clear usage error (exit 2) when the export's runtime is not installed."""
    import importlib.util

    module, extra = _EXTRA[fmt]
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(f"--export {fmt} needs the [{extra}] extra ({module} is not installed)")


class TensorGraph(nn.Module):
    """The model's tensor-mode forward with its outputs flattened to a tuple of tensors."""

    def __init__(self, model: nn.Module, two_stage: bool) -> None:
        super().__init__()
        self.model, self.two_stage = model, two_stage

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.two_stage:  # proposals need data samples: backbone, neck and RPN head
            out: Any = self.model.rpn_head(self.model.extract_feat(x))
        else:
            out = self.model(x, None, mode="tensor")
        return tuple(_tensors(out))


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _tensors(value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def tensor_graph(model: nn.Module) -> TensorGraph:
    return TensorGraph(model, hasattr(model, "rpn_head") and hasattr(model, "roi_head"))


def export_check(model: nn.Module, size: int, fmt: str) -> ExportReport:
    """Export ``model`` (built, on the CPU) at ``size`` x ``size`` and compare it with PyTorch."""
    require_runtime(fmt)
    graph = tensor_graph(model).eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    try:
        with torch.no_grad():
            reference = graph(x)
            torch_ms = _median_ms(lambda: graph(x))
    except Exception as error:  # noqa: BLE001 - the graph that would be exported does not run: nothing to convert
        return ExportReport(
            fmt, "failed", f"{CONVERSION_FAILED}: its tensor graph does not run ({_first_line(error)})"[:300]
        )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # tracer notices about Python values in the graph: not ours to show
            warnings.simplefilter("ignore")
            run, size_bytes = (_openvino if fmt == "openvino" else _onnx)(graph, x)
    except CompileError as error:  # converted, and the runtime would not compile it for the CPU
        reason = f"{COMPILE_FAILED} {_first_line(error.__cause__ or error)}"[:300]
        return ExportReport(fmt, "failed", reason, time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - a conversion that fails is the finding
        return ExportReport(fmt, "failed", conversion_failure(error), time.perf_counter() - start)
    convert_s = time.perf_counter() - start
    try:
        outputs = run(x.numpy())
        runtime_ms = _median_ms(lambda: run(x.numpy()))
    except Exception as error:  # noqa: BLE001 - compiled, and the runtime fails on an input
        return ExportReport(fmt, "failed", f"{INFERENCE_FAILED} {_first_line(error)}"[:300], convert_s)
    return _compared(fmt, reference, outputs, convert_s, size_bytes, torch_ms, runtime_ms)


class CompileError(Exception):
    """The converted model that the runtime does not compile (raised from the runtime's error)."""


def conversion_failure(error: BaseException) -> str:
    """One line naming the op (``aten::foo``, ``mylib::op``) or module that failed, and the cause."""
    text = f"{type(error).__name__}: {error}"
    ops = [op for op in _OP.findall(text) if not op.startswith(("torch.", "ov::", "std::"))]
    named = f"at {ops[0]}: " if ops else ""
    return f"{CONVERSION_FAILED} {named}{_first_line(error)[:300]}"


def _first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def _median_ms(work: Callable[[], Any]) -> float:
    work()  # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _openvino(graph: nn.Module, x: torch.Tensor) -> tuple[Callable[[Any], list[Any]], int]:
    import openvino as ov

    converted = ov.convert_model(graph, example_input=x)
    try:
        compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    except Exception as error:
        raise CompileError(str(error)) from error
    with tempfile.TemporaryDirectory() as folder:
        ov.save_model(converted, str(Path(folder) / "model.xml"), compress_to_fp16=False)
        size = sum(path.stat().st_size for path in Path(folder).iterdir())
    request = compiled.create_infer_request()

    def run(array: Any) -> list[Any]:
        result = request.infer([array])
        return [result[output] for output in compiled.outputs]

    return run, size


def _onnx(graph: nn.Module, x: torch.Tensor) -> tuple[Callable[[Any], list[Any]], int]:
    import io

    import onnxruntime

    buffer = io.BytesIO()
    torch.onnx.export(graph, (x,), buffer, dynamo=False)  # the TorchScript exporter: no onnxscript needed
    try:
        session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise CompileError(str(error)) from error
    name = session.get_inputs()[0].name

    def run(array: Any) -> list[Any]:
        return list(session.run(None, {name: array}))

    return run, len(buffer.getvalue())


def _compared(
    fmt: str,
    reference: tuple[torch.Tensor, ...],
    outputs: list[Any],
    convert_s: float,
    size_bytes: int,
    torch_ms: float,
    runtime_ms: float,
) -> ExportReport:
    report = ExportReport(
        fmt, "ok", convert_s=convert_s, size_bytes=size_bytes, torch_ms=torch_ms, runtime_ms=runtime_ms
    )
    if len(outputs) != len(reference):
        reason = f"the export gives {len(outputs)} outputs, PyTorch {len(reference)}"
        return replace(report, state="mismatch", reason=reason, outputs=len(outputs))
    worst_abs = worst_rel = 0.0
    problems = []
    for index, (ref, out) in enumerate(zip(reference, outputs, strict=True)):
        got = torch.as_tensor(out)
        if tuple(got.shape) != tuple(ref.shape):
            problems.append(f"output {index}: shape {tuple(got.shape)}, PyTorch's {tuple(ref.shape)}")
            continue
        got = got.to(ref.dtype)
        if not torch.equal(torch.isfinite(got), torch.isfinite(ref)):  # NaN compares as no error
            problems.append(f"output {index}: not finite where PyTorch's is, or finite where it is not")
            continue
        finite = torch.isfinite(ref)
        error = float((got - ref)[finite].abs().max()) if finite.any() else 0.0
        scale = float(ref[finite].abs().max()) if finite.any() else 0.0
        worst_abs, worst_rel = max(worst_abs, error), max(worst_rel, error / scale if scale else 0.0)
        if error > ATOL + RTOL * scale:
            problems.append(f"output {index}: max abs error {error:.3g} > {ATOL:g} + {RTOL:g} x {scale:.3g}")
    state, reason = ("mismatch", problems[0]) if problems else ("ok", "")
    return replace(report, state=state, reason=reason, outputs=len(reference), max_abs=worst_abs, max_rel=worst_rel)
