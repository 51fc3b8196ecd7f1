"""The whole-model steps of a smoke-build: a ``mode='tensor'`` forward, and one training step
(forward with the model's own loss, backward, SGD step) that proves gradients reach the backbone."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import nn

from otxgen.smoke.synthetic import Batch


@dataclass(frozen=True)
class TrainStep:
    loss: float
    loss_terms: tuple[str, ...]  # the loss names the model reported
    reached: int  # backbone parameter tensors with a non-zero gradient
    trainable: int  # backbone parameter tensors that require a gradient
    # trainable tensors of the whole model the loss does not reach at all (no gradient, not a zero one):
    # distributed training with mmengine's default find_unused_parameters=False stops at its first step
    without_gradient: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        found = []
        if not math.isfinite(self.loss):
            found.append(f"train step: the loss is {self.loss}, not finite")
        if self.trainable == 0:
            found.append("train step: the backbone has no trainable parameters")
        elif self.reached == 0:
            found.append(f"train step: no gradient reaches the backbone (0 of {self.trainable} trainable tensors)")
        return tuple(found)


def tensor_forward(model: nn.Module, batch: Batch) -> str:
    """``model(**data, mode='tensor')`` in eval mode, after the model's own preprocessing (which
    also moves the batch to the model's device); the mode it ran in. A segmentor whose decode head's
    forward takes the data samples (mmseg's Mask2Former: its tensor mode calls the head without them,
    and fails for any backbone) runs ``mode='predict'``; so does one whose tensor mode fails where its
    predict mode runs (PointRend's point head samples its points in prediction alone): the same backbone,
    neck and heads, which a misfit of the swap's fails in either mode."""
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        mode = _forward_in_either_mode(model, data)
        _auxiliary_forward(model, data["inputs"])
    return mode


def _forward_in_either_mode(model: nn.Module, data: dict[str, object]) -> str:
    if _head_takes_samples(getattr(model, "decode_head", None)):
        model(**data, mode="predict")
        return "predict"
    try:
        model(**data, mode="tensor")
    except Exception as error:  # noqa: BLE001 - any failure: the same model in its other mode decides
        try:
            model(**data, mode="predict")
        except Exception:  # noqa: BLE001 - it fails there too: the tensor mode's error is the one to say
            raise error from None
        return "predict"
    return "tensor"


def _auxiliary_forward(model: nn.Module, inputs: torch.Tensor) -> None:
    """A segmentor's auxiliary heads over what it extracts: they read the backbone's or the neck's levels
    in training alone, where neither mode runs them, and a misfit of theirs would pass."""
    heads = getattr(model, "auxiliary_head", None)
    if heads is None or not hasattr(model, "extract_feat"):
        return
    features = model.extract_feat(inputs)
    for head in heads if isinstance(heads, nn.ModuleList) else [heads]:
        try:
            head(features)
        except Exception as error:  # named: the message alone does not say which head
            text = (str(error).splitlines() or [""])[0]
            raise RuntimeError(f"auxiliary_head {type(head).__name__}: {type(error).__name__}: {text}") from error


def _head_takes_samples(head: object) -> bool:
    forward = getattr(head, "forward", None)
    if forward is None:
        return False
    required = [
        p
        for p in inspect.signature(forward).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) > 1


def train_step(model: nn.Module, batch: Batch, learning_rate: float = 1e-3) -> TrainStep:
    """One forward + backward + SGD step with ``mode='loss'``; counts backbone tensors reached."""
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode="loss")
    loss, _ = model.parse_losses(losses)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=learning_rate, momentum=0.9)
    optimizer.zero_grad()
    loss.backward()
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    reached = sum(1 for p in backbone if p.grad is not None and bool(p.grad.abs().sum() > 0))
    unreached = tuple(name for name, p in model.named_parameters() if p.requires_grad and p.grad is None)
    optimizer.step()
    terms = tuple(k for k in losses if "loss" in k)
    return TrainStep(float(loss.detach().cpu()), terms, reached, len(backbone), unreached)
