"""Load a config, find its registry scope and task, build the model, run the backbone.

This module imports torch and mmengine at the top: only ``otxgen smoke`` (and the benchmark)
import it. ``load_config`` EXECUTES the config file (``mmengine.Config.fromfile``) by design.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from otxgen.errors import InputError, UsageError
from otxgen.facts.checkpoints import is_switch, wants_weights
from otxgen.facts.consumers import POOLING_WINDOWS
from otxgen.libraries.quiet import quiet_libraries

SCOPES = ("mmdet", "mmseg", "mmpretrain")
_SCOPE_OF_MODEL = {"EncoderDecoder": "mmseg", "CascadeEncoderDecoder": "mmseg", "ImageClassifier": "mmpretrain"}
_TASK_OF_SCOPE = {"mmseg": "segmentation", "mmpretrain": "classification"}
_INSTANCE_MODELS = frozenset({"SOLO", "SOLOv2", "CondInst", "BoxInst", "MaskFormer", "Mask2Former", "RTMDetIns"})
_TRANSFORMER_MARKS = (
    "ViT",
    "VisionTransformer",
    "Swin",
    "BEiT",
    "DeiT",
    "MAE",
    "Twins",
    "PVT",
    "MixVision",
    "PCPVT",
    "SVT",
    "T2T",
    "Levit",
    "EVA",
    "HiViT",
    "ConvMixer",
    "MViT",
)
# The stride a window-pooling head's last level comes at in its library's configs (LR-ASPP's dilated
# MobileNetV3: 8); a smoke-build without a crop feeds at least the window that many times over.
_WINDOW_STRIDE = 8


def load_config(path: Path) -> Config:
    """Execute and load ``path`` (its ``custom_imports`` are imported too); needs a ``model`` dict.
    A chain whose bases set the same names (OTX 1.x), which mmengine refuses, is merged by the config
    view as OTX 1.x merged it, and built from those values."""
    if not path.is_file():
        raise InputError("no such model config (pass MODEL.py or run inside a workspace)", str(path))
    try:
        merged = _otx_chain(path)
        config = Config.fromfile(str(path)) if merged is None else _from_values(merged, path)
    except SyntaxError as error:
        raise InputError(f"syntax error: {error.msg}", str(path), error.lineno or 0, error.offset or 0) from error
    except Exception as error:  # executing a user's config can raise anything
        raise InputError(f"cannot load the config: {type(error).__name__}: {error}", str(path)) from error
    if not isinstance(config.get("model"), Mapping):
        raise InputError("the config has no `model = dict(...)`", str(path))
    return config


def _otx_chain(path: Path) -> dict[str, Any] | None:
    """The names of ``path`` merged over its chain by the config view, when that chain is one mmengine
    refuses (bases that set the same names); else None (mmengine loads it)."""
    from otxgen.config.inherit import BaseFiles, inherit, read_any

    text = path.read_text(encoding="utf-8")
    facts = read_any(str(path), text)
    if not facts.bases:
        return None
    merged = inherit(facts, BaseFiles(lambda base: Path(base).read_text(encoding="utf-8")))
    if isinstance(merged, str) or not merged.notes:
        return None
    unresolved = [".".join(map(str, p)) for p in merged.names.unresolved if p and p[0] in ("model", "custom_imports")]
    if unresolved:
        message = f"its bases set the same names (OTX 1.x), and {unresolved[0]} is not a literal otxgen can build"
        raise InputError(message, str(path))
    return {name: value for name, value in merged.names.value.items() if name != "_base_"}


def _from_values(names: dict[str, Any], path: Path) -> Config:
    from mmengine.utils import import_modules_from_strings

    imports = names.get("custom_imports")
    if isinstance(imports, Mapping):
        import_modules_from_strings(**imports)
    return Config(copy.deepcopy(names), filename=str(path))


def scope_of(config: Config) -> str:
    """``default_scope`` when set, else the model type's scope prefix, else the registry that knows it."""
    declared = config.get("default_scope")
    if isinstance(declared, str) and declared:
        return declared
    model_type = str(config.model.get("type", ""))
    prefix, dot, name = model_type.rpartition(".")
    if dot and prefix in SCOPES:
        return prefix
    if name in _SCOPE_OF_MODEL:
        return _SCOPE_OF_MODEL[name]
    for scope in SCOPES:
        registry = importlib.import_module(f"{scope}.registry").MODELS
        importlib.import_module(f"{scope}.models")
        if name in registry.module_dict:
            return scope
    raise InputError(
        f"model type {model_type!r} is in none of the registries {', '.join(SCOPES)}; set default_scope in the config"
    )


def task_of(scope: str, model: Mapping[str, Any]) -> str:
    """classification (mmpretrain), segmentation (mmseg), else detection or instance-segmentation."""
    if scope in _TASK_OF_SCOPE:
        return _TASK_OF_SCOPE[scope]
    return "instance-segmentation" if _has_masks(model) else "detection"


def _has_masks(node: Any) -> bool:
    if isinstance(node, Mapping):
        if "mask_head" in node or str(node.get("type", "")).rpartition(".")[2] in _INSTANCE_MODELS:
            return True
        return any(_has_masks(v) for v in node.values())
    if isinstance(node, list | tuple):
        return any(_has_masks(v) for v in node)
    return False


def default_input_size(task: str, config: Mapping[str, Any]) -> int:
    """The side the config feeds its model (a classifier's or segmentor's crop: ``facts.inputs``), else
    one valid for the model: the backbone's own ``img_size`` when it has one, 224 for classification and
    transformers, else 256; at least a head's minimum; a multiple of what a detector's preprocessor pads
    to where that is coarser than 32 (the images it feeds are)."""
    from otxgen.facts.inputs import input_sides, pad_divisor

    model = config.get("model") or {}
    heads = [_type_name(model.get(key)) for key in ("decode_head", "auxiliary_head", "head", "bbox_head")]
    minimum = max((POOLING_WINDOWS.get(name, 0) * _WINDOW_STRIDE for name in heads), default=0)
    minimum = -(-minimum // 32) * 32  # the multiple of 32 a segmentor pads to
    fed = input_sides(config)[:1] if task in ("classification", "segmentation") else []
    side = max(fed[0] if fed else _backbone_size(task, model.get("backbone") or {}), minimum)
    divisor = pad_divisor(config) if not fed else None
    return -(-side // divisor) * divisor if divisor is not None and divisor > 32 else side


def _type_name(cfg: Any) -> str:
    return str(cfg.get("type", "")).rpartition(".")[2] if isinstance(cfg, Mapping) else ""


def _backbone_size(task: str, backbone: Mapping[str, Any]) -> int:
    img_size = backbone.get("img_size")
    if isinstance(img_size, int):
        return img_size
    if isinstance(img_size, list | tuple) and img_size and isinstance(img_size[0], int):
        return int(img_size[0])
    from otxgen.facts.inputs import CLASSIFIER_SIDE

    backbone_type = str(backbone.get("type", ""))
    if task == "classification" or any(mark in backbone_type for mark in _TRANSFORMER_MARKS):
        return CLASSIFIER_SIDE
    return 256


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use --device auto or cpu)")
    return requested


# The dtypes a smoke-build may build the backbone in: bfloat16 for one whose float32 weights do not fit in
# memory (a 7B ViT on a CPU machine), as mixed precision would train it.
BACKBONE_DTYPES = ("float32", "bfloat16")


def build_model(config: Config, scope: str, backbone_dtype: str = "float32") -> nn.Module:
    """Build the whole model on the CPU with ``scope`` as the default registry scope, with the config's
    top-level ``data_preprocessor`` where the model sets none, as mmengine's Runner merges it (mmpretrain's
    batch augments take ``num_classes`` from there). A ``backbone_dtype`` other than float32: the backbone
    is built in it (no float32 copy of its weights is ever made), the rest in float32, the backbone's inputs
    cast to its dtype and its outputs back (``_backbone_in``)."""
    model_cfg = config.model
    preprocessor = config.get("data_preprocessor")
    if isinstance(model_cfg, Mapping) and isinstance(preprocessor, Mapping) and "data_preprocessor" not in model_cfg:
        model_cfg = {**model_cfg, "data_preprocessor": copy.deepcopy(preprocessor)}
    dtype = getattr(torch, backbone_dtype)
    try:
        with quiet_libraries(), _backbone_built_in(dtype, model_cfg.get("backbone")):
            init_default_scope(scope)
            model = MODELS.build(model_cfg)
    except Exception as error:  # a constructor may raise anything for a bad config
        raise InputError(f"cannot build the model: {type(error).__name__}: {error}", config.filename) from error
    if not isinstance(getattr(model, "backbone", None), nn.Module):
        raise InputError(f"the model {type(model).__name__} has no backbone module", config.filename)
    if dtype is not torch.float32:
        _backbone_in(model, dtype)
    return model


def build_optimizer(model: nn.Module, wrapper: Mapping[str, Any], scope: str) -> int:
    """The config's ``optim_wrapper`` built over ``model`` as training builds it first (its constructor
    groups the parameters; a constructor written for other backbones raises here); the number of
    parameter groups. Built as a plain ``OptimWrapper`` (an AMP one needs a GPU; the groups are the same)."""
    from mmengine.optim import OptimWrapper, build_optim_wrapper

    takes = inspect.signature(OptimWrapper.__init__).parameters
    cfg = {key: copy.deepcopy(value) for key, value in wrapper.items() if key in takes or key in _BUILDING_KEYS}
    with quiet_libraries():
        init_default_scope(scope)
        built = build_optim_wrapper(model, {**cfg, "type": "OptimWrapper"})
    return len(built.optimizer.param_groups)


_BUILDING_KEYS = ("optimizer", "constructor", "paramwise_cfg")  # read by build_optim_wrapper itself


@contextmanager
def _backbone_built_in(dtype: torch.dtype, backbone: Any) -> Iterator[None]:
    """Registry builds of the ``backbone`` config made with ``dtype`` as torch's default: the backbone's
    tensors are made in it, the neck's, heads' and anchors' (plain tensors a ``.float()`` would not reach)
    in float32."""
    if dtype is torch.float32 or not isinstance(backbone, Mapping):
        yield
        return
    from mmengine.registry import Registry

    wanted, build = dict(backbone), Registry.build

    def building(registry: Registry, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        if not (isinstance(cfg, Mapping) and dict(cfg) == wanted):
            return build(registry, cfg, *args, **kwargs)
        before = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            return build(registry, cfg, *args, **kwargs)
        finally:
            torch.set_default_dtype(before)

    Registry.build = building
    try:
        yield
    finally:
        Registry.build = build


def _backbone_in(model: nn.Module, dtype: torch.dtype) -> None:
    """``model``'s backbone (built in ``dtype``) run in it inside a float32 model, under autocast to
    ``dtype`` as mixed precision runs it (a float32 tensor the backbone makes itself, Swin's attention
    mask, meets its weights in ``dtype``): the floating tensors it is given cast to ``dtype``, those it
    returns (in any nesting of tuples, lists and dicts) to float32, as the neck's and heads' ops (mmcv's
    RoIAlign) take them."""
    backbone = model.backbone
    forward = backbone.forward

    def in_dtype(*args: Any, **kwargs: Any) -> Any:
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        with torch.autocast(device, dtype=dtype):
            return _cast(forward(*_cast(args, dtype), **kwargs), torch.float32)

    backbone.forward = in_dtype


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        items = [_cast(item, dtype) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # a named tuple too
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    return value


def switched_off(config: Config, scope: str) -> str:
    """The config's backbone with its weights switch off, and a note, where it was on: TIMMBackbone,
    torchvision's and timm's backbones with ``pretrained=True`` (on by default in mmseg's TIMMBackbone)
    fetch their library's weights as they are built, and the smoke-build fetches nothing (a checkpoint an
    ``init_cfg`` names is not loaded either). The model's shapes are the same without them."""
    from otxgen.schema.resolve import resolve_type
    from otxgen.schema.store import StoreCatalog

    model = config.get("model")
    backbone = model.get("backbone") if isinstance(model, Mapping) else None
    if not isinstance(backbone, Mapping) or not isinstance(backbone.get("type"), str):
        return ""
    catalog = StoreCatalog()
    resolved = resolve_type(backbone["type"], scope, catalog)
    properties = catalog.schema(resolved.type).get("properties", {}) if resolved.type else {}
    if not is_switch(properties) or backbone.get("pretrained", properties["pretrained"].get("default")) is not True:
        return ""
    config.model.backbone.pretrained = False
    return "built with pretrained=False: the backbone would fetch its library's weights; the smoke-build fetches none"


def initialise(model: nn.Module, model_cfg: Mapping[str, Any]) -> str:
    """Run the model's own ``init_weights`` (head priors, e.g. focal-loss bias) unless the config asks
    for pretrained weights, which would be downloaded; returns a note when it did not."""
    if wants_weights(model_cfg):
        return "init_weights skipped: the config asks for pretrained weights; weights are the constructors' defaults"
    init_weights = getattr(model, "init_weights", None)
    if callable(init_weights):
        with quiet_libraries():  # it logs one INFO block per parameter, on stdout
            init_weights()
    return ""


def backbone_shapes(backbone: nn.Module, size: int, device: str, in_channels: int = 3) -> list[tuple[int, ...] | None]:
    """Run ``backbone`` on a (1, C, size, size) batch in eval mode; one shape per output (None: not a
    tensor). An output that is several tensors (DistilledViT's class and distillation tokens, which
    DeiT's head reads) counts by its last one; the model's forward then says whether its head reads them."""
    backbone.eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, in_channels, size, size, device=device))
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    return [_shape(o[-1] if isinstance(o, (list, tuple)) and o else o) for o in outputs]


def _shape(output: object) -> tuple[int, ...] | None:
    return tuple(output.shape) if isinstance(output, torch.Tensor) else None


def meta_backbone_shapes(backbone: nn.Module, size: int, in_channels: int) -> tuple[list[tuple[int, ...] | None], str]:
    """Shapes on the meta device (no compute), from a weightless copy; falls back to a CPU forward
    for backbones with ops that have no meta kernel. Also returns where the shapes came from."""
    try:
        probe = copy.deepcopy(backbone).to_empty(device="meta")
        return backbone_shapes(probe, size, "meta", in_channels), "meta"
    except (NotImplementedError, RuntimeError) as error:
        shapes = backbone_shapes(backbone, size, "cpu", in_channels)
        return shapes, f"cpu (the meta forward failed: {type(error).__name__})"
