"""A backbone's cost, measured at ``schema export`` where its library publishes none: parameters and
GFLOPs at 224x224 (or at the one input size an architecture accepts), counted on the meta device with
``torch.utils.flop_counter`` (no weights, no real tensors).

GFLOPs follow the libraries' convention (torchvision's ``_ops``, mmpretrain's metafiles): multiply-adds,
so half of what ``FlopCounterMode`` counts. Parameters are the backbone's as otxgen builds it (the
classifier wrappers leave out the classification layer).
"""

from __future__ import annotations

from typing import Any

SIZES = (224, 256, 384, 192, 288, 320, 336, 448, 512, 518)  # 224 first; then the common fixed sizes
_CONSTRUCT = ("meta", "hybrid", "cpu")


def measure_cost(cfg: dict[str, Any]) -> dict[str, Any]:
    """``{"params", "gflops", "input_size"}`` of the backbone ``cfg``, or ``{"error": why}``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = _construct(cfg)
        except Exception as error:  # noqa: BLE001 - the reason is recorded in the catalog
            return {"error": f"does not construct ({type(error).__name__})"}
        params = sum(p.numel() for p in module.parameters())
        module.eval()
        for size in SIZES:
            flops = _flops(module, size)
            if flops is not None:
                return {"params": params, "gflops": round(flops / 2e9, 3), "input_size": size}
    return {"params": params, "error": f"no forward on the meta device at sizes {', '.join(map(str, SIZES))}"}


def _construct(cfg: dict[str, Any]) -> Any:
    from otxgen.shapes import build_backbone

    failure: Exception | None = None
    for construct in _CONSTRUCT:
        try:
            module = build_backbone(cfg, construct)
        except Exception as error:  # noqa: BLE001 - try the next way of constructing it
            failure = error
            continue
        return module.to("meta") if construct == "cpu" else module
    assert failure is not None
    raise failure


def _flops(module: Any, size: int) -> int | None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.empty(1, 3, size, size, device="meta")
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            module(x)
    except Exception:  # noqa: BLE001 - a fixed input size, or an op the meta device lacks
        return None
    return int(counter.get_total_flops())
