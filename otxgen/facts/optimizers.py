"""Optimizer constructors written for some backbone families only: a config's ``optim_wrapper`` that
names one fails to build its optimizer once the backbone is of another family (the model itself builds
and runs). Pure: validate reports the misfit, build's plan writes mmengine's default constructor in its
place (``default_constructor``), and the smoke-build builds the config's optimizer to find the ones no
fact names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from otxgen.facts.libraries import REGISTERING_MODULES

DEFAULT_CONSTRUCTOR = "DefaultOptimWrapperConstructor"

# The layer-wise learning-rate decay constructors find a parameter's layer from its name for backbone
# classes whose name contains one of the families, by their ``decay_type`` (mmseg's ``stage_wise`` is
# ConvNeXt's alone; its ``LayerDecayOptimizerConstructor`` is always layer-wise), and raise
# NotImplementedError for any other class. Keyed by the library whose registry holds the name (mmdet and
# mmseg register the same name).
FAMILY_BOUND_CONSTRUCTORS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("mmseg", "LearningRateDecayOptimizerConstructor"): {
        "layer_wise": ("ConvNeXt", "BEiT", "MAE"),
        "stage_wise": ("ConvNeXt",),
    },
    ("mmseg", "LayerDecayOptimizerConstructor"): {"layer_wise": ("ConvNeXt", "BEiT", "MAE")},
    ("mmdet", "LearningRateDecayOptimizerConstructor"): {"layer_wise": ("ConvNeXt",), "stage_wise": ("ConvNeXt",)},
}

# mmpretrain's asks the backbone for a method, which otxgen's wrappers of the other libraries (the
# ``otxgen.libraries`` modules) do not define, and an mm backbone answers or not by its class and its
# arguments (build asks the backbone, built alone; the smoke-build builds the optimizer).
METHOD_BOUND_CONSTRUCTORS = {("mmpretrain", "LearningRateDecayOptimWrapperConstructor"): "get_layer_depth"}
WRAPPED_LIBRARIES = tuple(
    library for module, library in REGISTERING_MODULES.items() if module.startswith("otxgen.libraries.")
)

# The ``paramwise_cfg`` keys those constructors read (mmengine's default constructor ignores them).
DECAY_KEYS = ("num_layers", "decay_rate", "decay_type", "layer_decay_rate")


@dataclass(frozen=True)
class Misfit:
    constructor: str
    works_for: str  # "ConvNeXt, BEiT, MAE backbones"
    backbone_type: str

    @property
    def message(self) -> str:
        return (
            f"optim_wrapper's {self.constructor} works for {self.works_for} only: training with "
            f"{self.backbone_type} raises NotImplementedError when it builds the optimizer; use mmengine's "
            f"{DEFAULT_CONSTRUCTOR} (without paramwise_cfg's {', '.join(DECAY_KEYS)}), or one of those backbones"
        )


def optimizer_misfit(
    cfg: Mapping[str, Any], backbone_type: str, library: str | None, answers: Callable[[str], bool] | None = None
) -> Misfit | None:
    """Why the config's optimizer constructor, as ``library``'s registry builds it, does not take
    ``backbone_type``'s class; or None. ``answers(method)``: whether the backbone, built, answers the
    method a constructor asks it for, for each of its parameters (mmpretrain's ResNet does for a depth of
    50 and more, not 18); without it, only otxgen's wrappers are known not to."""
    wrapper = cfg.get("optim_wrapper")
    constructor = wrapper.get("constructor") if isinstance(wrapper, Mapping) else None
    if not isinstance(constructor, str):
        return None
    scope, _, name = constructor.rpartition(".")
    key = (scope or library or "", name)
    paramwise = wrapper.get("paramwise_cfg") if isinstance(wrapper, Mapping) else None
    decay = paramwise.get("decay_type") if isinstance(paramwise, Mapping) else None
    kind = "stage_wise" if decay == "stage_wise" else "layer_wise"
    families = FAMILY_BOUND_CONSTRUCTORS.get(key, {}).get(kind)
    if families is not None and not any(family in backbone_type.rpartition(".")[2] for family in families):
        return Misfit(name, f"{', '.join(families)} backbones ({kind})", backbone_type)
    method = METHOD_BOUND_CONSTRUCTORS.get(key)
    if method is None:
        return None
    if backbone_type.partition(".")[0] in WRAPPED_LIBRARIES or (answers is not None and not answers(method)):
        return Misfit(name, f"backbones that answer {method} for each of their parameters", backbone_type)
    return None


def default_constructor(wrapper: Mapping[str, Any]) -> dict[str, Any]:
    """What ``optim_wrapper`` must hold instead of a misfit constructor: mmengine's default one, and a
    ``paramwise_cfg`` without the keys only the decay constructors read (whole, under ``_delete_``: a
    merge would keep them)."""
    override: dict[str, Any] = {"constructor": DEFAULT_CONSTRUCTOR}
    paramwise = wrapper.get("paramwise_cfg")
    if isinstance(paramwise, Mapping) and any(key in paramwise for key in DECAY_KEYS):
        kept = {key: value for key, value in paramwise.items() if key not in DECAY_KEYS}
        override["paramwise_cfg"] = {"_delete_": True, **kept}
    return override
