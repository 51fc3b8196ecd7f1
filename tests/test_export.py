"""``otxgen smoke --export openvino|onnx``: the templates export and match PyTorch within the documented
tolerance; a model with an op no exporter knows fails naming the op; the figures are in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.cli import main

pytest.importorskip("torch", reason="the [mm] extra is not installed")
pytest.importorskip("openvino", reason="the [export] extra is not installed")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "export"


def smoke_json(model: Path, *extra: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, ["smoke", str(model), "--device", "cpu", "--format", "json", *extra])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else {"output": result.output}


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ws")
    made = {}
    for task in ("detection", "segmentation", "classification"):
        folder = root / task
        assert CliRunner().invoke(main, ["build", "--task", task, "--workspace", str(folder)]).exit_code == 0
        made[task] = folder / "model.py"
    return made


@pytest.mark.parametrize("task", ["detection", "segmentation", "classification"])
def test_a_template_exports_to_openvino_and_matches_pytorch(task: str, workspaces: dict[str, Path]) -> None:
    from otxgen.smoke.export import ATOL, RTOL

    code, report = smoke_json(workspaces[task], "--export", "openvino", "--input-size", "128")
    assert code == 0, report
    export = report["export"]
    assert isinstance(export, dict) and export["state"] == "ok" and export["format"] == "openvino"
    assert export["outputs"] >= 1 and export["size_bytes"] > 0 and export["convert_s"] > 0
    assert export["runtime_ms"] > 0 and export["torch_ms"] > 0 and export["latency_ratio"] is not None
    assert export["max_rel"] <= RTOL + ATOL and export["tolerance"] == {"atol": ATOL, "rtol": RTOL}


def test_onnx_export_runs_with_onnxruntime(workspaces: dict[str, Path]) -> None:
    pytest.importorskip("onnxruntime", reason="the [export-onnx] extra is not installed")
    code, report = smoke_json(workspaces["classification"], "--export", "onnx", "--input-size", "128")
    assert code == 0, report
    export = report["export"]
    assert isinstance(export, dict) and export["state"] == "ok" and export["format"] == "onnx"


@pytest.mark.parametrize("fmt", ["openvino", "onnx"])
def test_an_op_no_exporter_knows_fails_naming_it(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    code, report = smoke_json(FIXTURES / "opaque_classifier.py", "--export", fmt, "--input-size", "64")
    assert code == 1, report
    export = report["export"]
    assert isinstance(export, dict) and export["state"] == "failed"
    assert "otxgen_test::opaque_scale" in str(export["detail"]), export["detail"]
    assert "Traceback" not in str(export["detail"])


def test_without_the_runtime_the_export_is_a_usage_error(
    workspaces: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """openvino is installed here, so its absence is simulated: ``find_spec`` says it is not there."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    result = CliRunner().invoke(main, ["smoke", str(workspaces["classification"]), "--export", "openvino"])
    assert result.exit_code == 2
    assert "[export] extra" in result.stderr


def test_build_passes_export_to_its_smoke_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ws"
    assert CliRunner().invoke(main, ["build", "--task", "classification", "--workspace", str(folder)]).exit_code == 0
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(main, ["build", "--backbone", "timm.resnet18", "--export", "openvino"])
    assert result.exit_code == 0, result.output
    assert "export openvino: max abs error" in result.stderr
    refused = CliRunner().invoke(main, ["build", "--backbone", "timm.resnet18", "--export", "onnx", "--no-smoke"])
    assert refused.exit_code == 2 and "--export runs in the smoke-build" in refused.stderr


def test_outputs_that_are_not_pytorch_s_are_a_mismatch_not_a_pass() -> None:
    """NaN compares as no error and a reshape hides another shape: both are mismatches, with why."""
    import numpy as np
    import torch

    from otxgen.smoke.export import _compared

    reference = (torch.ones(2, 3),)
    nan = _compared("openvino", reference, [np.full((2, 3), np.nan, dtype=np.float32)], 0.0, 0, 1.0, 1.0)
    assert nan.state == "mismatch" and "not finite" in nan.reason
    infinite = _compared(
        "openvino", (torch.full((2, 3), float("inf")),), [np.zeros((2, 3), np.float32)], 0.0, 0, 1.0, 1.0
    )
    assert infinite.state == "mismatch"
    reshaped = _compared("openvino", reference, [np.ones((3, 2), np.float32)], 0.0, 0, 1.0, 1.0)
    assert reshaped.state == "mismatch" and "shape (3, 2), PyTorch's (2, 3)" in reshaped.reason
    assert _compared("openvino", reference, [np.ones((2, 3), np.float32)], 0.0, 0, 1.0, 1.0).state == "ok"


def test_a_runtime_that_fails_on_its_input_is_an_inference_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Converted and compiled, then the runtime raises on the input: the export's own failure, at its
    stage, never the model's build."""
    import torch

    from otxgen.facts.deploys import failed_stage
    from otxgen.smoke import export

    class Tensors(torch.nn.Module):  # an mm model's tensor mode, in small
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor, samples: object, mode: str) -> torch.Tensor:
            return self.conv(x)

    def failing(array: object) -> list[object]:
        raise RuntimeError("Exception from the runtime: bad input")

    monkeypatch.setattr(export, "_openvino", lambda graph, x: (failing, 0))
    report = export.export_check(Tensors(), 32, "openvino")
    assert report.state == "failed" and failed_stage(f"openvino: {report.reason}") == "inference", report.reason
