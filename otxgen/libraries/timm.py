"""timm architectures as mmengine backbones, under the registry scope ``timm``.

Importing this module registers every name of ``timm.list_models()``, so a config can say
``custom_imports = dict(imports=['otxgen.libraries.timm'], allow_failed_imports=False)`` and
``backbone = dict(type='timm.resnet50', out_indices=(0, 1, 2, 3))`` inside mmdet, mmseg or mmpretrain.

Stages follow otxgen's convention: stage ``i`` is the deepest timm feature level at stride
``2 ** (i + 2)`` (4, 8, 16, 32, 64), so timm's stride-2 stem level is not a stage and timm's own
``out_indices`` are translated. A single-stride architecture (a ViT: every level at stride 16) has
one stage per timm level instead, all at that stride; its schema says so (``single_stride``).
Outputs are always NCHW (channels-last models such as Swin are permuted). The network is made with
``features_only=True, exportable=True``; ``pretrained`` is off by default (timm's weights must then
be in its local cache: nothing is downloaded in CI).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from mmengine.model import BaseModule
from torch import nn

from otxgen import shape_cache
from otxgen.libraries.base import ModelReader, Published
from otxgen.libraries.staged import FrozenTrainMode, accept_classifier_keys

_PROBE_FORMAT = 3


@dataclass(frozen=True)
class TimmStages:
    """timm's ``out_indices`` value of each otxgen stage (``levels``: timm numbers the model's feature
    levels itself, and ``features_only`` may skip some, e.g. DLA's stride-1 level), with its channels and
    stride; and every level ``features_only`` gives (``all_levels``: timm index, channels, stride), for
    configs that use timm's indices themselves (mmpretrain's ``TIMMBackbone``)."""

    levels: tuple[int, ...]
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    single_stride: bool
    all_levels: tuple[tuple[int, int, int], ...] = ()
    modules: dict[int, str] = field(default_factory=dict)  # the module that gives each timm level

    @staticmethod
    def of(
        channels: Sequence[int], reductions: Sequence[int], indices: Sequence[int], modules: Sequence[str] = ()
    ) -> TimmStages:
        """Stages from timm's ``feature_info``; ``ValueError`` when they do not make a backbone."""
        if not channels or len(channels) != len(reductions) or len(indices) != len(channels):
            raise ValueError("features_only gives no feature levels")
        every = tuple(zip(indices, channels, reductions, strict=True))
        named = dict(zip(indices, modules, strict=False))
        if len(set(reductions)) == 1:
            return TimmStages(tuple(indices), tuple(channels), tuple(reductions), True, every, named)
        deepest = {stride: position for position, stride in enumerate(reductions)}
        strides: list[int] = []
        while (stride := 2 ** (len(strides) + 2)) in deepest:
            strides.append(stride)
        if len(strides) < 3:
            raise ValueError(f"no feature levels at strides 4, 8, 16, 32 (timm gives strides {list(reductions)})")
        positions = [deepest[s] for s in strides]
        levels = tuple(indices[p] for p in positions)
        return TimmStages(levels, tuple(channels[p] for p in positions), tuple(strides), False, every, named)

    def to_json(self) -> dict[str, Any]:
        return {"levels": list(self.levels), "channels": list(self.channels), "strides": list(self.strides)}


def _create(name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timm.create_model(name, features_only=True, pretrained=pretrained, exportable=True, **kwargs)


def probe_stages(name: str) -> TimmStages:
    """The stages of ``name``, from its ``feature_info`` on the meta device (no weights, no forward);
    cached on disk per timm and torch version. ``ValueError`` says why a name is not a backbone."""
    cache_key = shape_cache.key({"type": f"timm.{name}", "probe": _PROBE_FORMAT}, "timm-features", None)
    cached = shape_cache.read(cache_key)
    if cached is None:
        cached = _probe(name)
        shape_cache.write(cache_key, cached)
    if "error" in cached:
        raise ValueError(cached["error"])
    # ValueError too when the levels do not make a backbone
    return TimmStages.of(cached["channels"], cached["reductions"], cached["indices"], cached["modules"])


def _probe(name: str) -> dict[str, Any]:
    try:
        with torch.device("meta"):
            network = _create(name)
        info = network.feature_info
        found = {
            "channels": list(info.channels()),
            "reductions": list(info.reduction()),
            "indices": [int(i) for i in info.out_indices],
            "modules": list(info.module_name()),
        }
    except Exception as error:  # noqa: BLE001 - any failure is the reason the name is excluded
        text = str(error).strip().splitlines()
        return {"error": f"features_only does not construct ({type(error).__name__}: {text[0] if text else ''})"}
    return found


class TimmBackbone(FrozenTrainMode, BaseModule):
    """A timm ``features_only`` network returning a tuple of NCHW maps, one per ``out_indices`` stage."""

    def __init__(
        self,
        model_name: str,
        out_indices: Sequence[int] | None = None,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: bool = False,
        init_cfg: dict[str, Any] | None = None,
        tile_size: int | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if tile_size is not None and (isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1):
            raise ValueError(f"tile_size must be a positive number of pixels, not {tile_size!r}")
        self.tile_size = tile_size
        self.stages = probe_stages(model_name)
        self._model_kwargs = dict(model_kwargs)
        count = len(self.stages.levels)
        out_indices = tuple(range(min(count, 4))) if out_indices is None else out_indices
        out_indices = tuple(i + count if i < 0 else i for i in out_indices)  # from the end, as mm backbones take
        if not out_indices or any(not 0 <= i < count for i in out_indices):
            raise ValueError(f"out_indices {tuple(out_indices)} must be within 0..{count - 1} for timm.{model_name}")
        self.out_indices = tuple(out_indices)
        levels = [self.stages.levels[i] for i in self.out_indices]
        with _filter_captured(model_name) as captured:
            self.net = _create(model_name, pretrained, out_indices=tuple(sorted(set(levels))), **model_kwargs)
        self._picks = [sorted(set(levels)).index(level) for level in levels]
        self._nhwc = str(getattr(self.net, "output_fmt", "NCHW")).endswith("NHWC")
        if captured:  # before the renaming hook: the filter reads the classifier's key names
            _apply_filter_on_load(self, captured[0], model_name, model_kwargs)
        accept_classifier_keys(self, _classifier_names(self.net))
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self._freeze_stages()

    @property
    def input_size(self) -> int | None:
        """The side timm's model was made for (``img_size`` given, else its ``pretrained_cfg``'s), which a
        fixed-size one needs."""
        given = self._model_kwargs.get("img_size")
        if isinstance(given, int) or (isinstance(given, (list, tuple)) and given):
            return int(given if isinstance(given, int) else given[-1])
        size = (getattr(self.net, "pretrained_cfg", None) or {}).get("input_size")
        return int(size[-1]) if isinstance(size, (list, tuple)) and size else None

    @property
    def out_strides(self) -> tuple[int, ...]:
        return tuple(self.stages.strides[i] for i in self.out_indices)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.tile_size is not None:
            return tiled(self._maps, x, self.tile_size)
        return self._maps(x)

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.net(x)
        picked = [maps[i] for i in self._picks]
        return tuple(m.permute(0, 3, 1, 2) if self._nhwc else m for m in picked)

    def _freeze_stages(self) -> None:
        """Freeze as mm backbones do: -1 nothing, 0 the stem, ``k`` the stem and stages 0..k-1. The
        frozen parameters are those registered (the network's order) up to the end of the module that
        gives the level before stage ``k`` (``feature_info`` names it; a features net may flatten
        ``stages.0`` into ``stages_0``), or, when stage 0 is timm's first level, those before its first
        block (a ViT's stem is its patch embedding, whichever blocks its stages are); frozen modules stay
        in eval mode."""
        if self.frozen_stages < 0:
            return
        bounds = _parameter_bounds(self.net)
        stage = min(self.frozen_stages, len(self.stages.levels))
        if stage > 0:
            cut = bounds(self.stages.modules[self.stages.levels[stage - 1]])[1]
        else:
            before = [index for index, _, _ in self.stages.all_levels if index < self.stages.levels[0]]
            first = _first_of_its_kind(self.stages.modules[self.stages.levels[0]])
            cut = bounds(self.stages.modules[before[-1]])[1] if before else bounds(first)[0]
        for param in list(self.net.parameters())[:cut]:
            param.requires_grad = False
        for module in self.net.modules():
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def tiled(
    maps_of: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], x: torch.Tensor, tile: int
) -> tuple[torch.Tensor, ...]:
    """``maps_of`` run on ``tile`` px squares of ``x`` (padded with zeros at the bottom and right to a
    whole number of them) as one batch, and each output's maps joined back in place: a network built for
    one input size gives, for images of any size, the maps a network of its strides would (``ceil(side /
    stride)`` a side). Each tile is seen alone: nothing attends or convolves across a tile's edge."""
    batch, channels, height, width = x.shape
    rows, cols = -(-height // tile), -(-width // tile)
    padded = nn.functional.pad(x, (0, cols * tile - width, 0, rows * tile - height))
    tiles = padded.reshape(batch, channels, rows, tile, cols, tile).permute(0, 2, 4, 1, 3, 5)
    joined = []
    for out in maps_of(tiles.reshape(batch * rows * cols, channels, tile, tile)):
        depth, side_h, side_w = out.shape[1:]
        out = out.reshape(batch, rows, cols, depth, side_h, side_w).permute(0, 3, 1, 4, 2, 5)
        out = out.reshape(batch, depth, rows * side_h, cols * side_w)
        joined.append(out[:, :, : -(-height * side_h // tile), : -(-width * side_w // tile)])
    return tuple(joined)


def _first_of_its_kind(module: str) -> str:
    """The first of the numbered blocks ``module`` is one of (a ViT's stage 0 may be ``blocks.9``:
    the stem ends where ``blocks.0`` starts), else ``module``."""
    container, _, number = module.rpartition(".")
    return f"{container}.0" if container and number.isdigit() else module


def _parameter_bounds(net: nn.Module) -> Callable[[str], tuple[int, int]]:
    """``module name -> (first, past last)`` positions of its parameters in ``net.parameters()`` (the
    order of ``named_modules``, so a module without parameters, e.g. resnet's ``act1``, is bounded by
    where it is registered); names are looked up as written, with the first dot flattened (a features
    net's ``stages_0``) and under ``model.`` (a net that keeps the whole model)."""
    bounds: dict[str, list[int]] = {}
    count = 0
    for name, module in net.named_modules():
        bounds[name] = [count, count]
        count += len(list(module.parameters(recurse=False)))
        parts = name.split(".") if name else []
        for depth in range(len(parts) + 1):
            bounds[".".join(parts[:depth])][1] = count

    def of(module: str) -> tuple[int, int]:
        spellings = (module, module.replace(".", "_", 1), f"model.{module}")
        found = next((bounds[name] for name in spellings if name in bounds), None)
        if found is None:
            raise ValueError(f"timm names no module {module!r} in this network")
        return found[0], found[1]

    return of


@contextlib.contextmanager
def _filter_captured(name: str) -> Iterator[list[Callable[..., Any]]]:
    """timm's own checkpoint filter for ``name``: the ``pretrained_filter_fn`` its entry point hands to
    ``build_model_with_cfg`` (which timm applies only when it downloads weights itself), caught by
    wrapping that function in the entry point's module while the network is made."""
    captured: list[Callable[..., Any]] = []
    module = sys.modules[timm.models.model_entrypoint(name).__module__]
    real = getattr(module, "build_model_with_cfg", None)
    if real is None:
        yield captured
        return

    def spy(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("pretrained_filter_fn") is not None:
            captured.append(kwargs["pretrained_filter_fn"])
        return real(*args, **kwargs)

    module.__dict__["build_model_with_cfg"] = spy
    try:
        yield captured
    finally:
        module.__dict__["build_model_with_cfg"] = real


def _apply_filter_on_load(
    backbone: nn.Module, filter_fn: Callable[..., Any], name: str, model_kwargs: dict[str, Any]
) -> None:
    """Run timm's checkpoint filter on a state dict loaded into ``backbone`` (mmengine's ``Pretrained``
    initialisation, ``load_state_dict``): it unwraps an original repository's checkpoint (``'model'``),
    renames its keys to timm's and adapts position embeddings, as timm does when it loads the weights
    itself. A state dict of this backbone's own keys (``net.``) is left alone. The filter's ``model``
    is a weightless classifier of the same arguments, made once, on the meta device."""
    classifier: list[nn.Module] = []

    def apply(state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        keys = [key for key in state_dict if key.startswith(prefix)]
        if not keys or any(key[len(prefix) :].startswith("net.") for key in keys):
            return
        if not classifier:
            with warnings.catch_warnings(), torch.device("meta"):
                warnings.simplefilter("ignore")
                classifier.append(timm.create_model(name, pretrained=False, **model_kwargs))
        own = {key[len(prefix) :]: state_dict.pop(key) for key in keys}
        try:
            filtered = filter_fn(own, classifier[0])
        except TypeError:  # filters that take the state dict alone, as timm allows
            filtered = filter_fn(own)
        state_dict.update({prefix + key: value for key, value in filtered.items()})

    backbone._register_load_state_dict_pre_hook(apply)


def _classifier_names(net: nn.Module) -> dict[str, str]:
    """The classifier's module name of each of the features net's modules -> its name under ``net``:
    a features net keeps the classifier's modules, flattening the first level (``stages.0`` ->
    ``stages_0``) or holding the whole model (``model.``)."""
    renames = {}
    for name, _ in net.named_children():
        if name == "model":
            inner = [*dict(net.model.named_children()), *(n for n, _ in net.model.named_parameters(recurse=False))]
            return {child: f"net.model.{child}" for child in inner}
        renames[name.replace("_", ".", 1) if name.split("_", 1)[-1].isdigit() else name] = f"net.{name}"
    return renames


def backbone_class(model_name: str) -> type[TimmBackbone]:
    """A ``TimmBackbone`` subclass named after ``model_name``, with a signature mmengine can build."""

    def __init__(  # noqa: N807 - the generated class's constructor
        self: TimmBackbone,
        out_indices: Sequence[int] | None = None,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: bool = False,
        init_cfg: dict[str, Any] | None = None,
        tile_size: int | None = None,
        **model_kwargs: Any,
    ) -> None:
        """Args:
        out_indices (Sequence[int], optional): stages to return; stage i has stride 2 ** (i + 2)
            (single-stride architectures: one stage per timm feature level, all at the same stride).
            Default: the first four stages.
        frozen_stages (int): as in mm backbones: -1 freezes nothing, 0 the stem, k the stem and
            stages 0..k-1.
        norm_eval (bool): keep batch-norm layers in eval mode while training.
        pretrained (bool): load timm's weights (they must be in timm's local cache).
        init_cfg (dict, optional): mmengine initialisation config.
        tile_size (int, optional): run the network on squares of this side (the image padded to a
            whole number of them) and join their maps, so that a network built for one input size
            takes images of any size; each square is seen alone. Default: the whole image at once.
        **model_kwargs: passed to ``timm.create_model`` (``drop_path_rate``, ``img_size``...).
        """
        TimmBackbone.__init__(
            self, model_name, out_indices, frozen_stages, norm_eval, pretrained, init_cfg, tile_size, **model_kwargs
        )

    doc = f"timm ``{model_name}`` as a multi-scale backbone (see ``otxgen.libraries.timm``)."
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": "otxgen.libraries.timm"}
    return type(model_name, (TimmBackbone,), namespace)


class TimmAdapter:
    """Every ``timm.list_models()`` name, registered; those whose ``features_only`` network does not
    construct or gives no stride-4..32 levels are excluded, with the reason."""

    library = "timm"
    container = "tuple"  # what TimmBackbone.forward returns, for every model

    def __init__(self) -> None:
        from mmengine.registry import MODELS as ROOT_MODELS
        from mmengine.registry import Registry

        self._names = sorted(timm.list_models())
        self._reasons: dict[str, str] | None = None
        self.registry = Registry("model", parent=ROOT_MODELS, scope="timm")
        for name in self._names:
            self.registry.register_module(name=name, module=backbone_class(name))

    def version(self) -> str:
        return str(timm.__version__)

    def entries(self) -> list[Any]:
        from otxgen.libraries.base import BackboneEntry

        skip = self.excluded()
        return [BackboneEntry("timm", n, self.registry.get(n)) for n in self._names if n not in skip]

    def excluded(self) -> dict[str, str]:
        if self._reasons is None:
            self._reasons = {}
            for name in self._names:
                try:
                    probe_stages(name)
                except ValueError as error:
                    self._reasons[name] = str(error)
        return self._reasons

    def build(self, name: str, **kwargs: Any) -> Any:
        # The class itself: a registry build switches to this scope, whose package (not an mm library's)
        # has no ``registry`` module, and mmengine then warns that it failed to import one.
        return self.registry.get(name)(**kwargs)

    def lineage(self) -> dict[str, list[str]]:
        return {}  # no model configs of its own: its backbones go into the others' models

    def custom_import(self) -> str:
        return "otxgen.libraries.timm"

    def defining_object(self, name: str) -> Any:
        """The architecture's entry point in timm (what its schema's ``source`` names)."""
        return timm.models.model_entrypoint(name)

    def published(self, read_config: ModelReader) -> Published:
        """timm's pretrained configurations trained on ImageNet (the tag says on which: ``in1k``,
        ``in12k``, ``in21k``/``in22k``): address, input size, mean/std; timm ships no accuracy figures.
        Weights only on timm's model hub have no address (``hub_id`` names them)."""
        from timm.models import _registry

        found: Published = {}
        skip = self.excluded()
        for name in self._names:
            if name in skip:
                continue
            for tag, cfg in sorted((_registry.get_arch_pretrained_cfgs(name) or {}).items()):
                data = [_IMAGENET[t] for t in tag.rpartition(".")[2].split("_") if t in _IMAGENET]
                if data:
                    found.setdefault(name, []).append(({}, _checkpoint(tag, cfg, data)))
        return found

    def channel_block(self, name: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The schema's channel table straight from ``feature_info`` (no forward), and the tasks: every
        task, since every stage is a 4-D map. Single-stride architectures are marked."""
        from otxgen.facts.arguments import NEUTRAL_ARGS
        from otxgen.libraries import TASKS

        stages = probe_stages(name)
        rows = [{"channels": c, "stride": s} for c, s in zip(stages.channels, stages.strides, strict=True)]
        default_indices = list(range(min(len(rows), 4)))  # the constructor's default
        cfg = timm.models.get_pretrained_cfg(name)
        block = {
            "key": None,
            "default_out_indices": default_indices,
            "shape_args": sorted(n for n in params if n not in NEUTRAL_ARGS and n != "out_indices"),
            "dense_args": {},
            "defaults": {"default": [dict(rows[i], ndim=4) for i in default_indices]},
            "table": {"default": rows},
            "single_stride": stages.single_stride,
            # timm's own feature levels, for mmpretrain's TIMMBackbone(features_only=True, out_indices=...)
            "timm_levels": [{"index": i, "channels": c, "stride": r} for i, c, r in stages.all_levels],
            "input_size": list(cfg.input_size[1:]) if cfg is not None else None,
            "fixed_input_size": bool(cfg.fixed_input_size) if cfg is not None else False,
            "container": self.container,
        }
        return block, list(TASKS)


_IMAGENET = {"in1k": "ImageNet-1k", "in12k": "ImageNet-12k", "in21k": "ImageNet-21k", "in22k": "ImageNet-22k"}


def _checkpoint(tag: str, cfg: Any, data: list[str]) -> dict[str, Any]:
    return {
        "name": tag,
        "publisher": "timm",
        "url": cfg.url or None,
        "hub_id": cfg.hf_hub_id or None,
        "data": list(dict.fromkeys(data)),
        "input_size": int(cfg.input_size[-1]),
        "mean": [round(m * 255, 4) for m in cfg.mean],
        "std": [round(v * 255, 4) for v in cfg.std],
        "rgb": True,
    }


ADAPTER = TimmAdapter()
MODELS = ADAPTER.registry
