"""The image size a config feeds its model, read from the config's own values (pure, as mmengine would
merge them): what a backbone built for one size must be made for, and what the smoke-build runs at.

- mmseg pads or crops every batch to ``model.data_preprocessor.size`` (its ``crop_size``);
- mmpretrain's training pipeline crops to one size (``RandomResizedCrop``'s ``scale``, ``RandomCrop`` /
  ``CenterCrop``'s ``crop_size``), and so does its test pipeline (not always to the same one).

Detection pipelines resize to a range of sizes (``Resize(scale=(1333, 800), keep_ratio=True)``): no one
size, so none is said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The sides a model that takes images of any size (a detector resizes them to a range of sizes and pads
# them to a multiple of 32; a segmentor without a crop size) is probed at: 7 x 32 and 8 x 32 find a
# backbone bound to one size, to a coarser multiple (HaloNet's 256; a patch of 14 or 48) or to a map no
# smaller than its window (SwinV2's 8 at stride 32).
ANY_SIZE_SIDES = (224, 256)
# The side a classifier whose config says no crop is fed (ImageNet's): what the smoke-build runs it at.
CLASSIFIER_SIDE = 224
# A detector's data preprocessor pads every batch to a multiple of ``pad_size_divisor`` (32 in most
# configs). A backbone that runs only on multiples of a coarser side (a window of 7 at stride 32: 224)
# gets the least of these at which it runs, on one and on two of it: windows of up to 8 at stride 32.
PAD_DIVISOR_KEY = "pad_size_divisor"
PAD_DIVISORS = tuple(range(64, 257, 32))
PADDING_TASKS = ("detection", "instance-segmentation")
# A detector preprocessor's batch augments that set a training batch's size after the padding to
# ``pad_size_divisor``: one pads it to a fixed size (its ``size``: both sides must then be multiples of
# any coarser padding too), the others resize it to sizes of their own (no padding multiple holds).
FIXED_SIZE_AUGMENTS = {"BatchFixedSizePad": "size"}
RESIZING_AUGMENTS = ("BatchSyncRandomResize", "BatchResize")
# Pipeline steps that make every image one size, and the argument that holds it.
SIZING_STEPS = {
    "RandomResizedCrop": "scale",
    "EfficientNetRandomCrop": "scale",
    "RandomCrop": "crop_size",
    "CenterCrop": "crop_size",
    "EfficientNetCenterCrop": "crop_size",
}


def input_sides(cfg: Mapping[str, Any]) -> list[int]:
    """The sides of the square images the model is fed (the larger of height and width), training's
    first: one where training and testing agree, two where they do not (EfficientNetV2 trains at 192 and
    tests at 224), none where the config does not say."""
    model = cfg.get("model")
    preprocessor = model.get("data_preprocessor") if isinstance(model, Mapping) else None
    if isinstance(preprocessor, Mapping) and (side := _side(preprocessor.get("size"))) is not None:
        return [side]
    sides: list[int] = []
    for pipeline in _pipelines(cfg):
        found = [side for step in pipeline if (side := _side(step.get(SIZING_STEPS.get(_type_name(step), ""))))]
        sides += [found[-1]] if found and found[-1] not in sides else []  # the last crop makes the size
    return sides


def pad_divisor(cfg: Mapping[str, Any]) -> int | None:
    """The multiple a detector's data preprocessor pads every batch to (the model's own preprocessor,
    else the config's top-level one, which mmengine's Runner hands it); None where none says one."""
    model = cfg.get("model")
    own = model.get("data_preprocessor") if isinstance(model, Mapping) else None
    preprocessor = own if isinstance(own, Mapping) else cfg.get("data_preprocessor")
    value = preprocessor.get(PAD_DIVISOR_KEY) if isinstance(preprocessor, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def batch_sides(cfg: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The sides a detector's batch augments pad every training batch to (``()`` where none does), or
    None where one resizes batches to sizes of its own."""
    model = cfg.get("model")
    own = model.get("data_preprocessor") if isinstance(model, Mapping) else None
    preprocessor = own if isinstance(own, Mapping) else cfg.get("data_preprocessor")
    augments = preprocessor.get("batch_augments") if isinstance(preprocessor, Mapping) else None
    sides: list[int] = []
    for augment in augments if isinstance(augments, (list, tuple)) else []:
        name = _type_name(augment) if isinstance(augment, Mapping) else ""
        if name in RESIZING_AUGMENTS:
            return None
        size = augment.get(FIXED_SIZE_AUGMENTS[name]) if name in FIXED_SIZE_AUGMENTS else None
        sides += [v for v in size if isinstance(v, int)] if isinstance(size, (list, tuple)) else []
        sides += [size] if isinstance(size, int) and not isinstance(size, bool) else []
    return tuple(sides)


def fed_sides(divisor: int | None) -> list[int]:
    """The sides a model fed images of any size is probed at: one and two of its preprocessor's multiple
    where that is coarser than 32, else ``ANY_SIZE_SIDES``."""
    return [divisor, 2 * divisor] if divisor is not None and divisor > 32 else list(ANY_SIZE_SIDES)


def _pipelines(cfg: Mapping[str, Any]) -> list[list[Mapping[str, Any]]]:
    """The training pipeline by name, then the training and test loaders' datasets' (a wrapped dataset's
    too)."""
    found = [cfg.get("train_pipeline")]
    for loader in ("train_dataloader", "test_dataloader", "val_dataloader"):
        dataset = (cfg.get(loader) or {}).get("dataset") if isinstance(cfg.get(loader), Mapping) else None
        while isinstance(dataset, Mapping):
            found.append(dataset.get("pipeline"))
            dataset = dataset.get("dataset")
    return [[s for s in p if isinstance(s, Mapping)] for p in found if isinstance(p, (list, tuple))]


def _side(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        sides = [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v > 0]
        return max(sides) if len(sides) == len(value) else None
    return None


def _type_name(step: Mapping[str, Any]) -> str:
    raw = step.get("type")
    return raw.rpartition(".")[2] if isinstance(raw, str) else ""
