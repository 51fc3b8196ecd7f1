"""The default arguments a backbone builds only in its own library's registry scope.

A backbone builds some parts from registry configs (mmseg's UNet: ``upsample_cfg=dict(type='InterpConv')``)
through mmcv's builders, which look the type up in the *default* scope: the config's library. In a
config of another library (UNet in an mmpretrain classifier) the unscoped name is not found and the
model does not build. Found here by building the backbone (weightless) in the root scope, that of no
library, with and without those defaults scoped to the backbone's library; the plan writes them scoped
where the backbone goes into another library's config. Imports the libraries: export only.
"""

from __future__ import annotations

from typing import Any

from otxgen.facts.arguments import WEIGHTS_ARGS


def scoped_defaults(backbone_type: str, properties: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """``{argument: its default, the type scoped}`` for the defaults that ``backbone_type`` (with the
    arguments of ``example``) needs scoped to build outside its library's scope; empty when it builds
    there as it is, when no default is an unscoped registry config the root registry lacks, or when the
    scoped ones do not make it build either (not a matter of scope)."""
    import mmcv.cnn  # noqa: F401 - registers its layers (Conv2d, BN, ReLU...) in the root registry
    from mmengine.registry import MODELS

    library = backbone_type.partition(".")[0]
    local = {
        name: {**prop["default"], "type": f"{library}.{prop['default']['type']}"}
        for name, prop in properties.items()
        if name not in example
        and name not in WEIGHTS_ARGS
        and name != "init_cfg"
        and _local(prop.get("default"), MODELS)
    }
    if not local or _builds_outside_its_scope({"type": backbone_type, **example}):
        return {}
    return local if _builds_outside_its_scope({"type": backbone_type, **example, **local}) else {}


def _local(default: Any, root: Any) -> bool:
    """An unscoped registry config whose type the root registry (mmcv's layers) does not know."""
    if not isinstance(default, dict) or not isinstance(default.get("type"), str) or "." in default["type"]:
        return False
    return root.get(default["type"]) is None


def _builds_outside_its_scope(cfg: dict[str, Any]) -> bool:
    import torch

    from otxgen.libraries import split_type
    from otxgen.libraries.mm import MMAdapter

    library, name = split_type(str(cfg["type"]))
    args = {k: v for k, v in cfg.items() if k != "type"}
    try:
        with torch.device("meta"):
            MMAdapter(library).build_elsewhere(name, **args)
    except Exception:  # noqa: BLE001 - any failure to construct: it does not build there
        return False
    return True
