"""Turn a classification network into a multi-scale backbone, cut by stride stage.

torchvision and pytorchcv models are plain classifiers. ``StagedBackbone`` flattens the network's
feature path (``features`` when it has one, else its children up to the classifier; nested
``nn.Sequential`` containers are unrolled, which keeps their semantics) into a list of layers, probes
the output stride of each layer once, and returns the output of the last layer at each stride
4, 8, 16, 32 (, 64): stage ``i`` is stride ``2 ** (i + 2)``. This module imports torch and
mmengine at import time: it is only imported on the paths that build models.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from mmengine.model import BaseModule
from torch import nn

from otxgen.libraries.base import ModelReader, Published

PROBE_SIZE = 256
_CLASSIFIER_TYPES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten, nn.Dropout)


class NotABackboneError(ValueError):
    """The network cannot be cut into stride-4..32 feature maps; the message says why."""


@dataclass(frozen=True)
class StagePlan:
    """Where each stage ends in the flattened layer list, and its output channels and stride; ``stem``
    is the number of leading layers that are not in a stage (mm backbones' stem, frozen by
    ``frozen_stages=0``)."""

    ends: tuple[int, ...]
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    stem: int = 0

    def frozen_layers(self, frozen_stages: int) -> int:
        """How many leading layers ``frozen_stages`` freezes, with mm backbones' meaning: -1 none, 0 the
        stem, ``k`` the stem and stages 0..k-1 (a value past the last stage freezes every stage)."""
        if frozen_stages < 0:
            return 0
        if frozen_stages == 0:
            return self.stem
        return self.ends[min(frozen_stages, len(self.ends)) - 1] + 1


def body_layers(network: nn.Module) -> list[nn.Module]:
    """The network's feature path as a flat list of layers, classifier excluded."""
    features = getattr(network, "features", None)
    root = features if isinstance(features, nn.Sequential) else network
    layers = []
    for layer in _unrolled(root):
        if isinstance(layer, _CLASSIFIER_TYPES):
            break
        layers.append(layer)
    return layers


def _unrolled(module: nn.Module) -> Iterator[nn.Module]:
    for child in module.children():
        if isinstance(child, nn.Sequential):
            yield from _unrolled(child)
        else:
            yield child


def plan_stages(layers: Sequence[nn.Module], in_channels: int = 3) -> StagePlan:
    """Run a probe through ``layers`` (on the meta device when possible) and find the stage ends."""
    shapes = _probe_shapes(layers, in_channels)
    last_at_stride: dict[int, int] = {}
    for index, shape in enumerate(shapes):
        stride = _exact_stride(shape)
        if stride is not None:
            last_at_stride[stride] = index
    strides: list[int] = []
    while (next_stride := 2 ** (len(strides) + 2)) in last_at_stride:  # 4, 8, 16, ... up to the first gap;
        strides.append(next_stride)  # beyond a gap lie classifier pools (a 7x7 average pool gives 2x2)
    if len(strides) < 4:
        raise NotABackboneError(
            f"no channels-first feature maps at exactly strides 4, 8, 16, 32 (found strides {sorted(last_at_stride)})"
        )
    ends = tuple(last_at_stride[s] for s in strides)
    if list(ends) != sorted(ends):
        raise NotABackboneError(f"strides are not increasing along the network (stage ends {ends})")
    # the stem: the layers before stage 0's first block, its blocks being the kind most of its layers
    # are (the later kind on a tie): resnet's max pool, pytorchcv's init block and convnext's stem
    # norm are stem; efficientnet's first block at stride 4 is not
    first = next(i for i, shape in enumerate(shapes) if len(shape) == 4 and shape[2] <= PROBE_SIZE // 4)
    kinds = [type(layer) for layer in layers[first : ends[0] + 1]]
    block = max(reversed(kinds), key=kinds.count)
    stem = first + kinds.index(block)
    return StagePlan(ends, tuple(shapes[e][1] for e in ends), tuple(strides), stem)


def _exact_stride(shape: tuple[int, ...]) -> int | None:
    if len(shape) != 4 or shape[2] == 0 or PROBE_SIZE % shape[2] or shape[2] != shape[3]:
        return None
    stride = PROBE_SIZE // shape[2]
    return stride if stride & (stride - 1) == 0 else None


def _probe_shapes(layers: Sequence[nn.Module], in_channels: int) -> list[tuple[int, ...]]:
    try:
        return _forward_shapes(layers, in_channels, torch.device("meta"))
    except NotImplementedError:  # an op without a meta kernel: pay for a real forward
        return _forward_shapes(layers, in_channels, torch.device("cpu"))


def _forward_shapes(layers: Sequence[nn.Module], in_channels: int, device: torch.device) -> list[tuple[int, ...]]:
    x: Any = torch.zeros(1, in_channels, PROBE_SIZE, PROBE_SIZE, device=device)
    shapes = []
    with torch.no_grad():
        for layer in layers:
            probe = layer.to_empty(device=device).eval()  # a throwaway copy: weights do not matter
            try:
                x = probe(x)
            except Exception as error:
                if isinstance(error, NotImplementedError) and device.type == "meta":
                    raise
                raise NotABackboneError(
                    f"its layers do not run in sequence ({type(error).__name__}: {error})"
                ) from error
            if not isinstance(x, torch.Tensor):
                raise NotABackboneError(f"a layer returns {type(x).__name__}, not a tensor")
            shapes.append(tuple(x.shape))
    return shapes


class FrozenTrainMode:
    """``train()`` for the wrapped backbones: frozen stages stay frozen, and with ``norm_eval`` batch
    norms stay in eval mode (as mm backbones do). The class provides ``_freeze_stages``."""

    norm_eval: bool

    def _freeze_stages(self) -> None:
        raise NotImplementedError

    def train(self, mode: bool = True) -> Any:
        super().train(mode)  # type: ignore[misc]
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():  # type: ignore[attr-defined]
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class StagedBackbone(FrozenTrainMode, BaseModule):
    """A classifier's feature path returning a tuple of 4-D maps, one per ``out_indices`` entry."""

    def __init__(
        self,
        network_factory: Callable[[], nn.Module],
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        init_cfg: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        network = network_factory()
        layers = body_layers(network)
        self.plan = probe_plan(network_factory)
        out_indices = [i + len(self.plan.ends) if i < 0 else i for i in out_indices]  # from the end, as in mm
        bad = [i for i in out_indices if not 0 <= i < len(self.plan.ends)]
        if bad or not out_indices:
            raise ValueError(f"out_indices {tuple(out_indices)} must be within 0..{len(self.plan.ends) - 1}")
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.layers = nn.ModuleList(layers[: self.plan.ends[max(self.out_indices)] + 1])
        names = {id(module): name for name, module in network.named_modules()}
        accept_classifier_keys(self, {names[id(layer)]: f"layers.{i}" for i, layer in enumerate(self.layers)})
        self._freeze_stages()

    @property
    def out_strides(self) -> tuple[int, ...]:
        return tuple(self.plan.strides[i] for i in self.out_indices)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One map per ``out_indices`` entry, in their order, as ``out_strides`` says and timm's wrapper
        gives them: a stage asked for twice is given twice (LR-ASPP's strides 4, 4, 8 from a ResNet)."""
        wanted = {self.plan.ends[i] for i in self.out_indices}
        maps = {}
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in wanted:
                maps[index] = x
        return tuple(maps[self.plan.ends[i]] for i in self.out_indices)

    def _freeze_stages(self) -> None:
        for layer in self.layers[: self.plan.frozen_layers(self.frozen_stages)]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False


def accept_classifier_keys(module: nn.Module, renames: dict[str, str]) -> None:
    """Let ``module`` load its library's own classifier checkpoints: a key under one of ``renames``
    (the classifier's module name -> this module's) is renamed before loading, by a load hook that runs
    in ``load_state_dict`` (torch's and mmengine's, so ``init_cfg=dict(type='Pretrained', ...)`` works).
    Keys of the classification layer, which the backbone lacks, stay unexpected ones."""

    def rename(state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            rest = key[len(prefix) :]
            source = next((s for s in renames if rest == s or rest.startswith(s + ".")), None)
            if source is not None:
                state_dict[prefix + renames[source] + rest[len(source) :]] = state_dict.pop(key)

    module._register_load_state_dict_pre_hook(rename)


def probe_plan(network_factory: Callable[[], nn.Module]) -> StagePlan:
    """Plan the stages on a second, weightless instance, so probing never touches real weights."""
    with warnings.catch_warnings():  # constructors warn about future default initialisations
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                layers = body_layers(network_factory())
        except (NotImplementedError, RuntimeError):  # constructors that call .item() on meta tensors
            layers = body_layers(network_factory())
    return plan_stages(layers)


FactoryFor = Callable[[str, bool, dict[str, Any]], Callable[[], nn.Module]]
"""``(model_name, pretrained, model_kwargs) -> zero-argument constructor of the classifier``."""


def backbone_class(library: str, model_name: str, factory_for: FactoryFor) -> type[StagedBackbone]:
    """A ``StagedBackbone`` subclass named after ``model_name``, with a signature mmengine can build."""

    def __init__(  # noqa: N807 - the generated class's constructor
        self: StagedBackbone,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: bool = False,
        init_cfg: dict[str, Any] | None = None,
        **model_kwargs: Any,
    ) -> None:
        """Args:
        out_indices (Sequence[int]): stages to return; stage i has stride 2 ** (i + 2).
        frozen_stages (int): as in mm backbones: -1 freezes nothing, 0 the stem, k the stem and
            stages 0..k-1.
        norm_eval (bool): keep batch-norm layers in eval mode while training.
        pretrained (bool): load the library's ImageNet weights (they must be cached locally).
        init_cfg (dict, optional): mmengine initialisation config.
        **model_kwargs: passed to the library's model constructor.
        """
        factory = factory_for(model_name, pretrained, model_kwargs)
        StagedBackbone.__init__(self, factory, out_indices, frozen_stages, norm_eval, init_cfg)

    doc = f"{library} ``{model_name}`` cut into stride stages (see ``otxgen.libraries.staged``)."
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": f"otxgen.libraries.{library}"}
    return type(model_name, (StagedBackbone,), namespace)


class ClassifierAdapter:
    """Adapter for a library of plain classifiers registered as ``StagedBackbone`` subclasses.

    Every classifier is registered; those that cannot be cut into stride stages are listed by
    ``excluded()`` with the reason, found by probing each once on the meta device.
    """

    def __init__(
        self,
        library: str,
        version: str,
        names: Sequence[str],
        factory_for: FactoryFor,
        builder_of: Callable[[str], Any] | None = None,
        published_for: Callable[[Sequence[str]], Published] | None = None,
    ) -> None:
        from mmengine.registry import MODELS as ROOT_MODELS
        from mmengine.registry import Registry

        self.library = library
        self._version = version
        self._names = sorted(names)
        self._factory_for = factory_for
        self._builder_of = builder_of
        self._published_for = published_for
        self._reasons: dict[str, str] | None = None
        self.registry = Registry("model", parent=ROOT_MODELS, scope=library)
        for name in self._names:
            self.registry.register_module(name=name, module=backbone_class(library, name, factory_for))

    def version(self) -> str:
        return self._version

    def entries(self) -> list[Any]:
        from otxgen.libraries.base import BackboneEntry

        skip = self.excluded()
        return [BackboneEntry(self.library, n, self.registry.get(n)) for n in self._names if n not in skip]

    def excluded(self) -> dict[str, str]:
        if self._reasons is None:
            self._reasons = {}
            for name in self._names:
                try:
                    probe_plan(self._factory_for(name, False, {}))
                except NotABackboneError as error:
                    self._reasons[name] = str(error)
                except Exception as error:  # noqa: BLE001 - a classifier that does not even construct
                    self._reasons[name] = f"does not construct ({type(error).__name__}: {error})"
        return self._reasons

    def build(self, name: str, **kwargs: Any) -> Any:
        # The class itself: a registry build switches to this scope, whose package (not an mm library's)
        # has no ``registry`` module, and mmengine then warns that it failed to import one.
        return self.registry.get(name)(**kwargs)

    def lineage(self) -> dict[str, list[str]]:
        return {}  # no model configs of its own: its backbones go into the others' models

    def custom_import(self) -> str:
        return f"otxgen.libraries.{self.library}"

    def published(self, read_config: ModelReader) -> Published:
        skip = self.excluded()
        names = [n for n in self._names if n not in skip]
        return self._published_for(names) if self._published_for is not None else {}

    def defining_object(self, name: str) -> Any:
        """The library's own builder of ``name`` (what its schema's ``source`` names)."""
        import inspect

        return inspect.unwrap(self._builder_of(name)) if self._builder_of is not None else self.registry.get(name)
