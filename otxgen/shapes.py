"""What a backbone outputs: (channels, stride, ndim) per output, cheapest tier first.

Tiers (``ShapeResult.tier`` says which one answered):

* ``static``: the committed schema's channel table (``x-otxgen.channels``), when it applies to the
  arguments: no argument listed in ``shape_args`` differs from its default (``dense_args`` set to
  exactly their table values are fine). No torch.
* ``meta``: construct on the meta device (or, for constructors that call ``.item()`` on a drop-path
  schedule, on meta with small schedule tensors on CPU, or finally on CPU) and forward a meta tensor.
* ``fake``: the CPU-built module forwarded under ``FakeTensorMode`` (for ops without meta kernels).
* ``forward``: a real CPU forward at an input size valid for the backbone (its ``img_size`` when it
  has one, else 224), the reference.

Strides are input size / output size. Results of the torch tiers are cached on disk under
``${XDG_CACHE_HOME:-~/.cache}/otxgen/shapes/`` keyed by (type, arguments, library and torch version).
torch is imported inside the functions that need it only.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from otxgen import shape_cache
from otxgen.errors import UsageError
from otxgen.facts.checkpoints import weightless
from otxgen.facts.strides import stride_of
from otxgen.libraries.quiet import quiet_libraries
from otxgen.schema.table import plain

TIERS = ("auto", "static", "probe", "meta", "fake", "forward")
# The forms a backbone's forward returns its outputs in (a dict's values count as a list); ``nested``: a
# tuple or list holding tuples or lists (DistilledViT's class and distillation tokens per level).
CONTAINERS = ("tuple", "list", "tensor", "nested")
DEFAULT_INPUT = 224
_MM_SCOPES = ("mmdet", "mmseg", "mmpretrain")
_MISSING = object()


@dataclass(frozen=True)
class Output:
    """One output of a backbone: channels (dim 1), stride (None unless 4-D), ndim, and the probed shape."""

    channels: int | None
    stride: int | None
    ndim: int
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class ShapeResult:
    outputs: tuple[Output, ...]
    tier: str
    construct: str | None = None  # meta tier: how the module was built (meta, hybrid or cpu)
    container: str | None = None  # what the forward returns: one of CONTAINERS; None where unknown

    @property
    def is_dense(self) -> bool:
        """Every output is a 4-D feature map."""
        return bool(self.outputs) and all(o.ndim == 4 for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        outputs = [asdict(o) | {"shape": list(o.shape)} for o in self.outputs]
        return {"tier": self.tier, "construct": self.construct, "container": self.container, "outputs": outputs}

    @staticmethod
    def from_json(data: dict[str, Any]) -> ShapeResult:
        outputs = tuple(Output(o["channels"], o["stride"], o["ndim"], tuple(o["shape"])) for o in data["outputs"])
        return ShapeResult(outputs, data["tier"], data.get("construct"), data["container"])


NO_OUTPUTS = "the backbone returned no tensors"


class ProbeError(RuntimeError):
    """No tier could produce the outputs; the message holds each tier's failure, ``why`` the costliest's."""

    def __init__(self, message: str, why: str | None = None) -> None:
        super().__init__(message)
        self.why = why or message


def probe_outputs(
    backbone_cfg: dict[str, Any],
    *,
    tier: str = "auto",
    input_size: int | None = None,
    use_cache: bool = True,
) -> ShapeResult:
    """Outputs of the backbone ``backbone_cfg`` (``{"type": "LIB.Name", ...}``) from the cheapest tier that works.

    ``tier``: ``auto`` (static, then meta/fake, then forward), ``probe`` (the same without static),
    or one tier by name.
    """
    if tier not in TIERS:
        raise UsageError(f"unknown shape tier {tier!r}; valid: {', '.join(TIERS)}")
    if tier in ("auto", "static"):
        static = static_from_store(backbone_cfg)
        if static is not None or tier == "static":
            if static is None:
                raise ProbeError(f"{backbone_cfg.get('type')}: the static table does not apply to these arguments")
            return static
    key = shape_cache.key(plain(backbone_cfg), tier, input_size)
    cached = _cached(key) if use_cache else None
    if cached is not None:
        return cached
    result = _probe_with_torch(backbone_cfg, tier, input_size)
    if use_cache:
        shape_cache.write(key, result.to_json())
    return result


# ---- static tier (no torch) -------------------------------------------------------------------


def _cached(key: str) -> ShapeResult | None:
    data = shape_cache.read(key)
    try:
        return ShapeResult.from_json(data) if data is not None else None
    except (KeyError, TypeError, ValueError):  # a cache file of another shape: probe again
        return None


def static_from_store(backbone_cfg: dict[str, Any]) -> ShapeResult | None:
    """The static tier using the committed schema of the config's type; None when it does not apply."""
    from otxgen.schema import store

    try:
        schema = store.shared_schema(str(backbone_cfg.get("type", "")))
    except (KeyError, FileNotFoundError, UsageError):
        return None
    return static_outputs(backbone_cfg, schema)


def static_outputs(backbone_cfg: dict[str, Any], schema: dict[str, Any]) -> ShapeResult | None:
    """Pure: the outputs the schema's channel table gives for these arguments, or None if it does not apply."""
    from otxgen.schema.table import ChannelTable, Unknown

    if any(name not in schema.get("properties", {}) for name in backbone_cfg if name != "type"):
        return None  # the backbone would not construct with an argument it does not take
    table = ChannelTable(schema)
    rows = table.outputs(backbone_cfg)
    return None if isinstance(rows, Unknown) else _rows(rows, "static", table.container(rows))


def _rows(rows: list[dict[str, Any]], tier: str, container: str | None) -> ShapeResult:
    outputs = tuple(Output(r.get("channels"), r.get("stride"), int(r.get("ndim", 4))) for r in rows)
    return ShapeResult(outputs, tier, container=container)


# ---- parameters without gradient ---------------------------------------------------------------


def unreached_parameters(
    backbone_cfg: dict[str, Any], read: Collection[int], side: int | None = None, *, use_cache: bool = True
) -> tuple[str, ...] | None:
    """The backbone's trainable parameters that none of the outputs in ``read`` (positions in what its
    forward returns; negative from the end) depends on: they get no gradient, on which distributed
    training stops at its second step unless told to look for them. Measured, not derived: one forward in
    training mode and one backward from those outputs, on the meta device (shapes alone: cheap at any
    size), or on the CPU where the meta one fails. The stages after the deepest output read, a norm of an
    output no consumer reads, HRNet's fusions into branches nobody reads, a classifier's layers a wrapper
    keeps. At the backbone's own input size, else at ``side`` (the config's: a SwinV2 given other windows).
    None where the backbone does not run."""
    # built as written (mmseg's MobileNetV3 asserts its out_indices are a tuple), keyed as JSON
    args = _weightless(backbone_cfg)
    key = shape_cache.key(plain(args), f"unreached {sorted(set(read))}", None)
    cached = shape_cache.read(key) if use_cache else None
    if cached is not None and isinstance(cached.get("unreached"), list):
        return tuple(str(name) for name in cached["unreached"])
    for device in ("meta", "cpu"):
        try:
            names = _unreached(args, read, device, side)
        except Exception:  # noqa: BLE001 - .item() on meta and friends: the CPU next, else unknown
            continue
        if use_cache:
            shape_cache.write(key, {"unreached": list(names)})
        return names
    return None


def _unreached(backbone_cfg: dict[str, Any], read: Collection[int], device: str, side: int | None) -> tuple[str, ...]:
    import torch

    model = _construct_cheapest(backbone_cfg)[0].to("meta") if device == "meta" else build_backbone(backbone_cfg)
    model.train()  # as distributed training runs it (mmdet's ResNet freezes its frozen stages here)
    inputs = [(size, channels) for size in (_input_size(model), side) for channels in (3, _input_channels(model))]
    result, failure = None, None
    for size, channels in dict.fromkeys((s, c) for s, c in inputs if s):  # RGB first, as ``_forward`` tries
        try:  # two images: a training batch norm needs more than one value a channel
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = model(torch.zeros(2, channels, size, size, device=device))
            break
        except RuntimeError as error:
            failure = error
    if result is None:
        raise failure or RuntimeError(NO_OUTPUTS)
    items = list(result.values()) if isinstance(result, dict) else result
    items = list(items) if isinstance(items, (list, tuple)) else [items]
    chosen = [tensor for i in sorted({i % len(items) for i in read}) for tensor in _tensors(items[i])]
    total = sum((tensor.float().sum() for tensor in chosen if tensor.requires_grad), torch.zeros((), device=device))
    if total.requires_grad:
        total.backward()
    return tuple(name for name, p in model.named_parameters() if p.requires_grad and p.grad is None)


# ---- torch tiers ------------------------------------------------------------------------------


def _probe_with_torch(backbone_cfg: dict[str, Any], tier: str, input_size: int | None) -> ShapeResult:
    order = {"auto": ("meta", "fake", "forward"), "probe": ("meta", "fake", "forward")}.get(tier, (tier,))
    failures: dict[str, list[str]] = {}  # why -> the tiers that failed so (usually all: said once)
    for name in order:
        try:
            return _TIER_FUNCTIONS[name](backbone_cfg, input_size)
        except Exception as error:  # noqa: BLE001 - any failure moves on to the next, costlier tier
            failures.setdefault(describe(error), []).append(name)
    reasons = "; ".join(f"{', '.join(tiers)}: {why}" for why, tiers in failures.items())
    raise ProbeError(f"{backbone_cfg.get('type')}: {reasons}", why=list(failures)[-1])


def describe(error: BaseException) -> str:
    """One line for a failure inside a library: its type and first line, or, for a bare ``assert``
    (no message), the statement that failed and where (``assert max(out_indices) < num_stages``)."""
    text = str(error).strip().splitlines()
    if text:
        return f"{type(error).__name__}: {text[0]}"
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return type(error).__name__
    outside = [f for f in frames if not f.filename.replace("\\", "/").endswith("torch/__init__.py")]
    last = (outside or frames)[-1]  # torch._assert raises for the library that called it
    where = f"{_short(last.filename)}:{last.lineno}"
    return f"{type(error).__name__} at {where}: {last.line}" if last.line else f"{type(error).__name__} at {where}"


def _short(filename: str) -> str:
    """A library file as its package path (``mmdet/models/backbones/regnet.py``)."""
    parts = Path(filename).parts
    cut = max((i for i, part in enumerate(parts) if part in ("site-packages", "dist-packages")), default=-1)
    return "/".join(parts[cut + 1 :]) if cut >= 0 else Path(filename).name


def _weightless(backbone_cfg: dict[str, Any]) -> dict[str, Any]:
    """``backbone_cfg`` as a backbone built to be measured is: no weights, its switch (by its schema) off."""
    from otxgen.errors import OtxgenError
    from otxgen.schema.store import shared_schema

    try:
        properties = shared_schema(str(backbone_cfg.get("type"))).get("properties", {})
    except OtxgenError:  # a type without a schema: its weights arguments alone are left out
        properties = {}
    return weightless(backbone_cfg, properties)


def build_backbone(backbone_cfg: dict[str, Any], construct: str = "cpu") -> Any:
    """Construct the backbone: ``construct`` is ``cpu``, ``meta`` or ``hybrid`` (meta, schedules on CPU)."""
    import torch

    from otxgen.libraries import get_adapter, split_type

    library, name = split_type(str(backbone_cfg["type"]))
    args = copy.deepcopy({k: v for k, v in _weightless(backbone_cfg).items() if k != "type"})
    adapter = get_adapter(library)
    with _registry_scope(library), quiet_libraries():  # a backbone may log as it is built (TIMMBackbone)
        if construct == "meta":
            with torch.device("meta"):
                return adapter.build(name, **args)
        if construct == "hybrid":
            with _meta_except_schedules():
                return adapter.build(name, **args).to("meta")
        return adapter.build(name, **args)


def _registry_scope(library: str) -> Any:
    """The library's default registry scope, so nested configs (``upsample_cfg=dict(type='InterpConv')``)
    resolve in the library's own registries."""
    import contextlib

    if library not in _MM_SCOPES:
        return contextlib.nullcontext()
    from mmengine.registry import DefaultScope

    return DefaultScope.overwrite_default_scope(library)


def _meta_except_schedules() -> Any:
    """A function mode like ``torch.device('meta')`` that keeps ``linspace``/``arange``/``logspace`` on CPU.

    Drop-path schedules (``[x.item() for x in torch.linspace(0, rate, depth)]``) and relative position
    indices are tiny; everything else (the weights) stays weightless on meta.
    """
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._device import _device_constructors

    factories = _device_constructors()
    on_cpu = {torch.linspace, torch.arange, torch.logspace}

    class MetaExceptSchedules(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "cpu" if func in on_cpu else "meta"
            return func(*args, **kwargs)

    return MetaExceptSchedules()


def _meta_tier(backbone_cfg: dict[str, Any], input_size: int | None) -> ShapeResult:
    import torch

    model, construct = _construct_cheapest(backbone_cfg)
    size = input_size or _input_size(model)
    result = _result(_forward(model.to("meta"), size, torch.device("meta")), size, "meta")
    return ShapeResult(result.outputs, result.tier, construct, result.container)


def construction_error(backbone_cfg: dict[str, Any]) -> str | None:
    """Why the backbone alone does not construct with these arguments (one line), None when it does."""
    try:
        _construct_cheapest(backbone_cfg)
    except Exception as error:  # noqa: BLE001 - any constructor failure is the answer
        return describe(error)
    return None


def parameter_shapes(backbone_cfg: dict[str, Any]) -> dict[str, tuple[int, ...]] | None:
    """The names and shapes of the backbone's parameters and buffers (what a checkpoint of it holds),
    built alone the cheapest way; None where it does not construct."""
    try:
        model, _ = _construct_cheapest(backbone_cfg)
    except Exception:  # noqa: BLE001 - a backbone that does not construct holds nothing to compare
        return None
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def answers_per_parameter(backbone_cfg: dict[str, Any], method: str) -> bool:
    """Whether the backbone, built alone, answers ``method`` (``get_layer_depth``) for each of its
    parameters, named as in a model (``backbone.``): what a layer-decay constructor asks it."""
    try:
        model, _ = _construct_cheapest(backbone_cfg)
        answer = getattr(model, method, None)
        if not callable(answer):
            return False
        for name, _ in model.named_parameters():
            answer(f"backbone.{name}", "backbone.")
    except Exception:  # noqa: BLE001 - a backbone that does not build or answer does not answer
        return False
    return True


def decay_depth(backbone_cfg: dict[str, Any], library: str, wrapper: dict[str, Any]) -> int | None:
    """The least ``paramwise_cfg.num_layers`` at which the config's decay constructor (``wrapper``: its
    ``optim_wrapper``, built from ``library``'s registry) gives no parameter group of the backbone (built
    alone, under a model as ``backbone``) a learning rate above the head's; None when none up to 1,024
    does. A smaller one trains the backbone's deepest layers faster than the head."""
    import torch
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, DefaultScope

    cfg = {key: copy.deepcopy(wrapper[key]) for key in ("type", "optimizer") if key in wrapper}
    paramwise = dict(wrapper.get("paramwise_cfg") or {})
    with DefaultScope.overwrite_default_scope(library), _quiet():
        model = torch.nn.Module()
        model.backbone = _construct_cheapest(backbone_cfg)[0]
        low, high = 1, 1024
        while low < high:  # the scales fall as num_layers grows: the least that fits
            middle = (low + high) // 2
            constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
                {
                    "type": wrapper["constructor"],
                    "optim_wrapper_cfg": {**cfg, "type": "OptimWrapper"},
                    "paramwise_cfg": {**copy.deepcopy(paramwise), "num_layers": middle},
                }
            )
            groups: list[dict[str, Any]] = []
            constructor.add_params(groups, model)
            backbone = [g for g in groups if any(name.startswith("backbone.") for name in g["param_names"])]
            fits = all(float(group["lr_scale"]) <= 1 for group in backbone)
            low, high = (low, middle) if fits else (middle + 1, high)
    return low if low < 1024 else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A decay constructor prints every parameter group (``print_log`` without a logger prints), and warns
    of its own deprecations: neither is the user's, nor wanted on stderr either."""
    with quiet_libraries(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def module_construction_error(cfg: dict[str, Any], library: str) -> str | None:
    """Why a model part (a neck, a head) does not construct from ``library``'s registry with this config,
    on the meta device (one line); None when it does. Kept in the shape cache: a swap asks it of a neck
    normalised by groups before and after, and the same neck recurs across configs."""
    key = shape_cache.key(plain(cfg), "construct", None, library)
    cached = shape_cache.read(key)
    if cached is not None and "error" in cached:
        error: str | None = cached["error"]
        return error
    error = _construction_error(cfg, library)
    shape_cache.write(key, {"error": error})
    return error


def _construction_error(cfg: dict[str, Any], library: str) -> str | None:
    import importlib

    import torch

    try:
        registry = importlib.import_module(f"{library}.registry").MODELS
        with _registry_scope(library), torch.device("meta"):
            registry.build(copy.deepcopy(cfg))
    except Exception as error:  # noqa: BLE001 - any constructor failure is the answer
        return describe(error)
    return None


def _construct_cheapest(backbone_cfg: dict[str, Any]) -> tuple[Any, str]:
    failures = []
    for construct in ("meta", "hybrid"):
        try:
            return build_backbone(backbone_cfg, construct), construct
        except Exception as error:  # noqa: BLE001 - .item() on meta tensors and friends: next construction
            failures.append(error)
    return build_backbone(backbone_cfg, "cpu"), "cpu"


def _fake_tier(backbone_cfg: dict[str, Any], input_size: int | None) -> ShapeResult:
    import logging

    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    model = build_backbone(backbone_cfg, "cpu")
    size = input_size or _input_size(model)
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)  # a failure here is expected and handled: the next tier runs
    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            shapes = _forward(model, size, torch.device("cpu"), wrap=mode.from_tensor)
    finally:
        fake_log.setLevel(level)
    return _result(shapes, size, "fake")


def _forward_tier(backbone_cfg: dict[str, Any], input_size: int | None) -> ShapeResult:
    import torch

    model = build_backbone(backbone_cfg, "cpu")
    size = input_size or _input_size(model)
    return _result(_forward(model, size, torch.device("cpu")), size, "forward")


_TIER_FUNCTIONS: dict[str, Callable[[dict[str, Any], int | None], ShapeResult]] = {
    "meta": _meta_tier,
    "fake": _fake_tier,
    "forward": _forward_tier,
}


Shapes = tuple[list[tuple[int, ...]], str]  # each output's shape, and the container they came in


def _forward(model: Any, size: int, device: Any, wrap: Callable[[Any], Any] | None = None) -> Shapes:
    import torch

    model.eval()
    channels = _input_channels(model)
    for tried in dict.fromkeys((3, channels)):  # RGB first: a stem may space-to-depth it (CSPDarknet's Focus: 12)
        batch = torch.zeros(1, tried, size, size, device=device)
        try:
            with torch.no_grad():
                outputs = model(wrap(batch) if wrap else batch)
        except RuntimeError:
            if tried == channels:
                raise
            continue
        return [tuple(int(d) for d in t.shape) for t in _tensors(outputs)], _container(outputs)
    raise AssertionError("unreachable: the last candidate returns or raises")


def _container(value: Any) -> str:
    """The form of a forward's result: ``tuple``, ``list`` (a dict's values are read as one), ``tensor``,
    or ``nested`` where an item of the tuple or list is a tuple or list itself."""
    items = list(value.values()) if isinstance(value, dict) else value
    if isinstance(items, (list, tuple)) and any(isinstance(item, (list, tuple)) for item in items):
        return "nested"
    if isinstance(value, tuple):
        return "tuple"
    return "list" if isinstance(value, (list, dict)) else "tensor"


def _tensors(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif hasattr(value, "shape"):
        yield value


def _input_channels(model: Any) -> int:
    """The first convolution's input channels (LeNet5 takes 1), else 3; tried after 3 channels."""
    from torch import nn

    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return int(first.in_channels) if first is not None else 3


def _input_size(model: Any) -> int:
    """The side the backbone says it was made for (a wrapper's ``input_size``), the class's ``img_size``
    default (fixed-size patch/window models), else 224 (ImageNet's size, which models with fixed
    attention biases such as EfficientFormer need)."""
    declared = getattr(model, "input_size", None)
    if isinstance(declared, int) and declared >= 32:
        return declared
    parameter = inspect.signature(type(model).__init__).parameters.get("img_size")
    default = parameter.default if parameter is not None else None
    if isinstance(default, (list, tuple)) and default:
        default = default[0]
    return default if isinstance(default, int) and default >= 32 else DEFAULT_INPUT


def _result(shapes: Shapes, size: int, tier: str) -> ShapeResult:
    found, container = shapes
    if not found:
        raise ProbeError(NO_OUTPUTS)
    return ShapeResult(tuple(_output(shape, size) for shape in found), tier, container=container)


def _output(shape: tuple[int, ...], size: int) -> Output:
    channels = shape[1] if len(shape) >= 2 else None
    stride = stride_of(size, shape[2]) if len(shape) == 4 else None
    return Output(channels, stride, len(shape), shape)
