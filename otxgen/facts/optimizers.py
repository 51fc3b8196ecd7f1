"""Optimizer constructors written for some backbone families only: a config's ``optim_wrapper`` that
names one fails to build its optimizer once the backbone is of another family (the model itself builds
and runs). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# mmseg's layer-wise decay constructors find a layer's depth from its name for these backbone classes
# (a class name containing one of them) and raise NotImplementedError for any other.
FAMILY_BOUND_CONSTRUCTORS = {
    "LayerDecayOptimizerConstructor": ("ConvNeXt", "BEiT", "MAE"),
    "LearningRateDecayOptimizerConstructor": ("ConvNeXt", "BEiT", "MAE"),
}


def optimizer_misfit(cfg: Mapping[str, Any], backbone_type: str) -> str | None:
    """Why the config's optimizer constructor does not take ``backbone_type``'s class, or None."""
    wrapper = cfg.get("optim_wrapper")
    constructor = wrapper.get("constructor") if isinstance(wrapper, Mapping) else None
    name = constructor.rpartition(".")[2] if isinstance(constructor, str) else ""
    families = FAMILY_BOUND_CONSTRUCTORS.get(name)
    if families is None or any(family in backbone_type.rpartition(".")[2] for family in families):
        return None
    return (
        f"optim_wrapper's {name} works for {', '.join(families)} backbones only: training with {backbone_type} "
        "raises NotImplementedError when it builds the optimizer; remove its constructor (and paramwise_cfg) "
        "from optim_wrapper, or use one of those backbones"
    )
