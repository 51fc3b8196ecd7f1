"""Smoke-build one model config: load (executes it), build in its registry scope, measure the
backbone's outputs, hold them against the neck / head / anchors, then the whole-model forward and,
when asked, one training step; the config's optimizer is built over the model too. Imports torch and
mmengine (through ``runtime``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from otxgen.errors import UsageError
from otxgen.facts.libraries import UNUSED_PARAMETERS_KEY
from otxgen.libraries.quiet import quiet_libraries
from otxgen.smoke import runtime, steps
from otxgen.smoke.check import LevelReport, check_levels
from otxgen.smoke.expect import expectation
from otxgen.smoke.report import SmokeResult, Step
from otxgen.smoke.synthetic import make_batch

Say = Callable[[str], None]
T = TypeVar("T")
TRAIN_BATCH = 2  # BatchNorm needs more than one value per channel in train mode


def run_smoke(
    path: Path,
    device: str,
    input_size: int | None,
    train: bool,
    say: Say,
    export: str | None = None,
    weights_check: str | None = None,
    backbone_dtype: str = "float32",
) -> SmokeResult:
    """The smoke-build of the config at ``path``; mismatches are in the result, not raised. ``export``
    (``openvino`` or ``onnx``) converts the model's tensor-mode graph and compares it with PyTorch.
    ``backbone_dtype`` (``runtime.BACKBONE_DTYPES``): bfloat16 builds and runs the backbone in it, the rest
    of the model in float32, for a backbone whose float32 weights do not fit in memory."""
    device = runtime.resolve_device(device)
    if train and device == "meta":
        raise UsageError("--train-step needs a real device; --device meta computes shapes only")
    if export and backbone_dtype != "float32":
        raise UsageError(
            f"--export compares a float32 graph with PyTorch: it excludes --backbone-dtype {backbone_dtype};"
            " drop one of them"
        )
    if device == "meta" and backbone_dtype != "float32":
        raise UsageError(
            f"--backbone-dtype {backbone_dtype} builds and runs the backbone; --device meta computes shapes only"
        )
    config = runtime.load_config(path)
    scope = runtime.scope_of(config)
    switch_note = runtime.switched_off(config, scope)
    model_cfg: dict[str, Any] = config.model.to_dict()
    task = runtime.task_of(scope, model_cfg)
    backbone_cfg = model_cfg.get("backbone") or {}
    size = input_size or runtime.default_input_size(task, config.to_dict())
    say(f"[*] Building {model_cfg.get('type')} ({scope}, {task}) from {path}")
    seconds: dict[str, float] = {}
    torch.manual_seed(0)
    model = _timed(seconds, "build", lambda: runtime.build_model(config, scope, backbone_dtype))
    init_note = runtime.initialise(model, model_cfg)
    weights = _weights(model.backbone, backbone_cfg, weights_check, seconds) if weights_check is not None else None
    if weights is not None and init_note:
        init_note = "init_weights skipped: the config asks for pretrained weights; --weights-check loaded them"
    if device not in ("cpu", "meta"):
        model.to(device)
    levels, shapes_from = _measure(model, model_cfg, task, size, device, seconds)
    looks = bool(
        config.get(UNUSED_PARAMETERS_KEY) or (config.get("model_wrapper_cfg") or {}).get(UNUSED_PARAMETERS_KEY)
    )
    forward, train_result = _whole_model(model, task, size, device, (train, looks), levels, seconds)
    wrapper = config.get("optim_wrapper")
    optimizer = None
    if forward.state == "ok" and isinstance(wrapper, Mapping):
        optimizer = _optimizer(model, wrapper, scope, seconds)
    exported = _export(model, size, export, forward, seconds) if export else None
    said = tuple(note for note in (switch_note, init_note) if note)
    notes = levels.notes + said + _dtype_notes(backbone_dtype, levels, forward, train_result)
    return SmokeResult(
        str(path),
        scope,
        task,
        str(model_cfg.get("type")),
        _type_name(backbone_cfg, model.backbone),
        device,
        size,
        shapes_from,
        levels,
        forward,
        train_result,
        seconds,
        notes,
        exported,
        weights,
        optimizer,
    )


def _dtype_notes(dtype: str, levels: LevelReport, forward: Step, train: Step | None) -> tuple[str, ...]:
    """What a backbone built in ``dtype`` (not float32) changes, said with the result."""
    if dtype == "float32":
        return ()
    notes: tuple[str, ...] = (
        f"the backbone was built, initialised and run in {dtype} (under autocast), the rest of the model in"
        f" float32: its initial weights are drawn in {dtype} (their spread, and so the first loss, differ from"
        " float32's)",
    )
    failed = levels.problems or forward.state == "failed" or (train is not None and train.state == "failed")
    if failed:
        notes += (
            f"an op without a {dtype} kernel on this device (mmcv's deformable convolution on a CPU) fails where"
            " float32 may run: try without --backbone-dtype",
        )
    return notes


def _export(model: nn.Module, size: int, fmt: str, forward: Step, seconds: dict[str, float]) -> Step:
    """The export check on the CPU (after the train step, if any, the model is back in eval mode)."""
    from otxgen.smoke.export import export_check

    if forward.state != "ok":
        return Step("skipped", "the forward failed")
    start = time.perf_counter()
    report = export_check(model.cpu().eval(), size, fmt)
    seconds["export"] = time.perf_counter() - start
    data = report.to_json()
    if not report.ok:
        return Step("failed", f"{fmt}: {report.reason}", seconds["export"], data)
    ratio = report.latency_ratio
    detail = (
        f"{fmt}: max abs error {report.max_abs:.2g}, {report.runtime_ms:.1f} ms vs PyTorch {report.torch_ms:.1f} ms"
        + (f" ({ratio:.2f}x)" if ratio is not None else "")
    )
    return Step("ok", detail, seconds["export"], data)


def _weights(backbone: nn.Module, backbone_cfg: dict[str, Any], given: str, seconds: dict[str, float]) -> Step:
    from otxgen.smoke.weights import checkpoint_of, weights_check

    path, prefix = checkpoint_of(backbone_cfg, given or None)
    with quiet_libraries():  # mmengine's reader logs on stdout, which carries the report
        return _timed(seconds, "weights", lambda: weights_check(backbone, path, prefix))


def _timed(seconds: dict[str, float], name: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return work()
    finally:
        seconds[name] = time.perf_counter() - start


def _type_name(backbone_cfg: Mapping[str, Any], backbone: nn.Module) -> str:
    return str(backbone_cfg.get("type") or type(backbone).__name__)


def _measure(
    model: nn.Module,
    model_cfg: Mapping[str, Any],
    task: str,
    size: int,
    device: str,
    seconds: dict[str, float],
) -> tuple[LevelReport, str]:
    in_channels = (model_cfg.get("backbone") or {}).get("in_channels", 3)
    in_channels = in_channels if isinstance(in_channels, int) else 3
    expected = expectation(model_cfg, task)
    start = time.perf_counter()
    try:
        if device == "meta":
            shapes, source = runtime.meta_backbone_shapes(model.backbone, size, in_channels)
        else:
            shapes, source = runtime.backbone_shapes(model.backbone, size, device, in_channels), device
    except Exception as error:  # noqa: BLE001 - a backbone that cannot run is a finding, not a crash
        seconds["backbone"] = time.perf_counter() - start
        failed = f"the backbone forward at {size}x{size} failed: {type(error).__name__}: {error}"
        return LevelReport((), (failed,), expected.notes), device
    seconds["backbone"] = time.perf_counter() - start
    return check_levels(shapes, size, expected), source


def _whole_model(
    model: nn.Module,
    task: str,
    size: int,
    device: str,
    training: tuple[bool, bool],
    levels: LevelReport,
    seconds: dict[str, float],
) -> tuple[Step, Step]:
    """The forward, and the training step where asked (``training``: whether, and whether the config has
    distributed training look for parameters without gradient)."""
    train, looks = training
    if device == "meta":
        return Step("skipped", "--device meta computes shapes only"), Step("skipped", "not requested")
    if not levels.ok:
        reason = "the backbone's outputs do not fit"
        return Step("skipped", reason), Step("skipped", reason if train else "not requested")
    modes: list[str] = []
    batch = make_batch(task, model, size, 1)
    forward = _attempt(seconds, "forward", lambda: modes.append(steps.tensor_forward(model, batch)))
    if modes == ["predict"]:
        why = "ran mode='predict' instead: the decode head's forward takes the data samples, which tensor mode omits"
        forward = replace(forward, detail=why)
    if not train:
        return forward, Step("skipped", "not requested")
    if forward.state != "ok":
        return forward, Step("skipped", "the forward failed")
    return forward, _train(model, task, size, seconds, looks)


def _optimizer(model: nn.Module, wrapper: Mapping[str, Any], scope: str, seconds: dict[str, float]) -> Step:
    """The config's optimizer, built over the model as training's first step builds it."""
    groups: list[int] = []
    step = _attempt(seconds, "optimizer", lambda: groups.append(runtime.build_optimizer(model, wrapper, scope)))
    if step.state != "ok":
        constructor = wrapper.get("constructor") or "DefaultOptimWrapperConstructor"
        return replace(step, detail=f"optim_wrapper's {constructor} does not build: {step.detail}")
    return replace(step, detail=f"{groups[0]} parameter group{'s' if groups[0] != 1 else ''}")


def _attempt(seconds: dict[str, float], name: str, work: Callable[[], None]) -> Step:
    start = time.perf_counter()
    try:
        work()
    except Exception as error:  # noqa: BLE001 - any failure of the model is a finding
        seconds[name] = time.perf_counter() - start
        return Step("failed", _failure(error), seconds[name])
    seconds[name] = time.perf_counter() - start
    return Step("ok", "", seconds[name])


def _failure(error: Exception) -> str:
    """``NotImplementedError``, ``ValueError: bad`` (its first line)."""
    text = str(error).splitlines()
    return f"{type(error).__name__}: {text[0]}" if text and text[0] else type(error).__name__


def _train(model: nn.Module, task: str, size: int, seconds: dict[str, float], looks: bool) -> Step:
    start = time.perf_counter()
    try:
        result = steps.train_step(model, make_batch(task, model, size, TRAIN_BATCH))
    except Exception as error:  # noqa: BLE001 - a model that cannot train is a finding
        seconds["train"] = time.perf_counter() - start
        return Step("failed", _failure(error), seconds["train"])
    seconds["train"] = time.perf_counter() - start
    data = {
        "loss": result.loss,
        "loss_terms": list(result.loss_terms),
        "backbone_tensors_with_gradient": result.reached,
        "backbone_trainable_tensors": result.trainable,
        "tensors_without_gradient": list(result.without_gradient),
    }
    if result.problems:
        return Step("failed", "; ".join(result.problems), seconds["train"], data)
    detail = f"loss {result.loss:.4f}, gradients reach {result.reached}/{result.trainable} backbone tensors"
    if result.without_gradient:
        count, first = len(result.without_gradient), result.without_gradient[0]
        detail += f"; {count} trainable tensors get no gradient at all (the first: {first}): "
        detail += (
            f"the config sets {UNUSED_PARAMETERS_KEY}=True, which distributed training needs for them"
            if looks
            else f"distributed training stops at its first step unless the config sets {UNUSED_PARAMETERS_KEY}=True"
        )
    return Step("ok", detail, seconds["train"], data)
