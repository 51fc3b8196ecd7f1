"""``smoke --weights-check [PATH]``: load a local checkpoint into the built backbone the way training will,
and count what would not load: keys the backbone has and the checkpoint lacks (missing), keys only the
checkpoint has (unexpected), keys of another shape (mismatched), and the share of the backbone's
parameters left uninitialised.

"The way training will" is mmengine's ``Pretrained`` initialisation (its checkpoint reader, ``prefix``
selection, ``module.`` stripped, every module's load hooks, then its ``load_state_dict``), except for a
backbone whose own ``init_weights`` reads its ``init_cfg`` checkpoint (mmdet's Swin converting the
official keys, mmseg's ViT resizing its position embedding to its image size): that one is run, and
what it hands to ``load_state_dict`` is what is counted.

Only local files: otxgen downloads nothing.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
from pathlib import Path
from typing import Any

from torch import nn

from otxgen.errors import InputError, UsageError
from otxgen.fsio import not_a_checkpoint
from otxgen.smoke.report import Step

_LISTED = 5  # keys named per kind in the step's detail


def checkpoint_of(backbone_cfg: dict[str, Any], given: str | None) -> tuple[Path, str | None]:
    """The file to check and its ``prefix``: ``given``, else the backbone's ``init_cfg`` checkpoint."""
    init = backbone_cfg.get("init_cfg")
    init = init if isinstance(init, dict) else {}
    prefix = init.get("prefix") if isinstance(init.get("prefix"), str) else None
    address = given or init.get("checkpoint")
    if not isinstance(address, str) or not address:
        raise UsageError("--weights-check: the backbone has no init_cfg checkpoint; give one: --weights-check PATH")
    if "://" in address:
        raise UsageError(f"--weights-check reads local files only (otxgen downloads nothing): download {address}")
    path = Path(address)
    if path.is_dir():
        raise UsageError(f"--weights-check: {address} is a folder; give a checkpoint file in it")
    if not path.is_file():
        raise UsageError(f"--weights-check: no such checkpoint file {address}")
    return path, prefix


def weights_check(backbone: nn.Module, path: Path, prefix: str | None) -> Step:
    """A ``failed`` step when any backbone parameter would stay uninitialised."""
    from mmengine.runner.checkpoint import load_state_dict

    state = _state_dict(path, prefix)
    try:
        itself = _as_it_loads_itself(backbone, path, prefix)
    except _OwnLoadError as error:
        return Step("failed", str(error), data={"checkpoint": str(path), "prefix": prefix})
    state = itself if itself is not None else state
    renamed = _after_load_hooks(backbone, dict(state))
    own = {k: v for k, v in backbone.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(k for k in own if k not in renamed)
    unexpected = sorted(k for k in renamed if k not in own and not k.endswith("num_batches_tracked"))
    mismatched = sorted(
        k for k in own if k in renamed and tuple(getattr(renamed[k], "shape", ())) != tuple(own[k].shape)
    )
    params = dict(backbone.named_parameters())
    total = sum(p.numel() for p in params.values()) or 1
    left = sum(params[k].numel() for k in (*missing, *mismatched) if k in params)
    if itself is None:  # else the backbone loaded it itself
        load_state_dict(backbone, state, strict=False, logger="silent")
    share = left / total
    detail = (
        f"{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched keys; "
        f"{share:.1%} of the backbone's parameters uninitialised ({path.name})"
    )
    data = {
        "checkpoint": str(path),
        "prefix": prefix,
        "missing": missing[:_LISTED],
        "unexpected": unexpected[:_LISTED],
        "mismatched": mismatched[:_LISTED],
        "counts": {"missing": len(missing), "unexpected": len(unexpected), "mismatched": len(mismatched)},
        "uninitialised_share": round(share, 6),
    }
    return Step("failed" if left else "ok", detail, data=data)


class _OwnLoadError(Exception):
    """The backbone's own ``init_weights`` raised on the checkpoint: a failed check, as training would fail."""


def _as_it_loads_itself(backbone: nn.Module, path: Path, prefix: str | None) -> dict[str, Any] | None:
    """What the backbone's own ``init_weights`` hands to ``load_state_dict`` when its ``init_cfg`` names
    ``path`` (taken as the backbone's own ``_load_from_state_dict`` receives it, before any load hook); None
    where its class leaves checkpoints to mmengine (``BaseModule.init_weights``) or loads nothing. An error
    it raises is the one training would meet."""
    from mmengine.config import ConfigDict
    from mmengine.model import BaseModule

    if not isinstance(backbone, BaseModule) or type(backbone).init_weights is BaseModule.init_weights:
        return None
    received: dict[str, Any] = {}
    load = backbone._load_from_state_dict

    def receive(state: dict[str, Any], at: str, *rest: Any) -> None:
        if at == "" and not received:
            received.update(state)
        load(state, at, *rest)

    init_cfg = backbone.init_cfg
    backbone._load_from_state_dict = receive  # this instance, for this call only
    backbone.init_cfg = ConfigDict(type="Pretrained", checkpoint=str(path), **({"prefix": prefix} if prefix else {}))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # libraries print what they resize; stdout is the report's
            backbone.init_weights()
    except Exception as error:  # noqa: BLE001 - the backbone's own loading, which training runs as it is
        lines = str(error).strip().splitlines()
        why = lines[0] if lines else type(error).__name__
        raise _OwnLoadError(f"{type(backbone).__name__}.init_weights() fails on {path.name}: {why}") from None
    finally:
        del backbone._load_from_state_dict
        backbone.init_cfg = init_cfg
    return received or None


def _state_dict(path: Path, prefix: str | None) -> dict[str, Any]:
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix

    why = not_a_checkpoint(path)
    if why is not None:
        raise _not_a_checkpoint(path, why)
    with contextlib.redirect_stdout(sys.stderr):  # its reader prints where it loads from; stdout is the report's
        try:
            if prefix:
                loaded: Any = _load_checkpoint_with_prefix(prefix, str(path), map_location="cpu")
            else:
                loaded = _load_checkpoint(str(path), map_location="cpu")
                loaded = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
        except pickle.UnpicklingError:  # torch's weights-only reader met an object it will not build
            raise _not_a_checkpoint(path, "it holds objects other than tensors; otxgen never unpickles them") from None
        except (UsageError, InputError):
            raise
        except Exception as error:  # noqa: BLE001 - torch's reader fails in many ways on a damaged file
            lines = str(error).strip().splitlines()
            raise _not_a_checkpoint(path, f"{type(error).__name__}: {lines[0] if lines else ''}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--weights-check: {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in loaded.items()}  # as mmengine hands it to the model


def _not_a_checkpoint(path: Path, why: str) -> InputError:
    return InputError(f"not a PyTorch checkpoint ({why})", str(path))


def _after_load_hooks(backbone: nn.Module, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` as each module's load hooks leave it (renamed keys, resized position embeddings),
    parents before children, as ``load_state_dict`` runs them."""
    for name, module in backbone.named_modules():
        for hook in list(module._load_state_dict_pre_hooks.values()):
            hook(state, f"{name}." if name else "", {}, False, [], [], [])
    return state
