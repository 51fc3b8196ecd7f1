"""Synthetic batches with targets of the right kind per task, in the form the model's own
``data_preprocessor`` takes: ``{'inputs': [uint8 (3, H, W)], 'data_samples': [...]}``.

Detection: ``DetDataSample`` with ``gt_instances`` (boxes, labels, and bitmap masks for instance
segmentation); segmentation: ``SegDataSample`` with ``gt_sem_seg``; classification: mmpretrain
``DataSample`` with ``gt_label`` (one label, several for multi-label heads, one per task for
``MultiTaskHead``). Imports torch and the task's library inside the functions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

Batch = dict[str, list[Any]]


def make_batch(task: str, model: nn.Module, size: int, count: int) -> Batch:
    """``count`` random images of ``size`` x ``size`` with synthetic targets for ``task``."""
    generator = torch.Generator().manual_seed(count * 1000 + size)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator) for _ in range(count)]
    makers = {
        "classification": _classification_sample,
        "segmentation": _segmentation_sample,
        "detection": _detection_sample,
        "instance-segmentation": _instance_sample,
    }
    samples = [makers[task](model, size, i) for i in range(count)]
    return {"inputs": inputs, "data_samples": samples}


def _image_meta(size: int) -> dict[str, Any]:
    return {
        "img_shape": (size, size),
        "ori_shape": (size, size),
        "pad_shape": (size, size),
        "scale_factor": (1.0, 1.0),
        "img_id": 0,
        "flip": False,
        "flip_direction": None,
    }


def _num_classes(head: Any, default: int = 2) -> int:
    value = getattr(head, "num_classes", None)
    return int(value) if isinstance(value, int) and value > 0 else default


def _boxes(size: int, index: int) -> torch.Tensor:
    """Two overlapping boxes of a few sizes, well inside the image."""
    shift = 0.05 * (index % 3)
    corners = [[0.1 + shift, 0.15, 0.55 + shift, 0.7], [0.35, 0.3 + shift, 0.9, 0.85 + shift / 2]]
    return torch.tensor(corners, dtype=torch.float32) * size


def _detection_classes(model: nn.Module) -> int:
    for head in (getattr(model, "bbox_head", None), getattr(getattr(model, "roi_head", None), "bbox_head", None)):
        if isinstance(head, nn.ModuleList) and len(head):  # cascade heads: one per stage
            head = head[0]
        if head is not None:
            return _num_classes(head)
    return 2


def _detection_sample(model: nn.Module, size: int, index: int, with_masks: bool = False) -> Any:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    boxes = _boxes(size, index)
    classes = _detection_classes(model)
    instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, (index + 1) % classes], dtype=torch.long))
    if with_masks:
        instances.masks = _box_masks(boxes, size)
    sample = DetDataSample(metainfo=_image_meta(size))
    sample.gt_instances = instances
    return sample


def _box_masks(boxes: torch.Tensor, size: int) -> Any:
    """One filled rectangle per box, as mmdet ``BitmapMasks``."""
    import numpy as np
    from mmdet.structures.mask import BitmapMasks

    masks = np.zeros((len(boxes), size, size), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.round().int().tolist()):
        masks[k, y1:y2, x1:x2] = 1
    return BitmapMasks(masks, size, size)


def _instance_sample(model: nn.Module, size: int, index: int) -> Any:
    return _detection_sample(model, size, index, with_masks=True)


def _segmentation_sample(model: nn.Module, size: int, index: int) -> Any:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    classes = _num_classes(getattr(model, "decode_head", None))
    labels = torch.zeros((1, size, size), dtype=torch.long)
    labels[:, size // 4 : size * 3 // 4, size // 3 :] = (index + 1) % classes  # a block of another class
    sample = SegDataSample(metainfo=_image_meta(size))
    sample.gt_sem_seg = PixelData(data=labels)
    return sample


def _classification_sample(model: nn.Module, size: int, index: int) -> Any:
    return _label_sample(getattr(model, "head", None), index)


def _label_sample(head: Any, index: int) -> Any:
    """A target for ``head``: a label, several labels (multi-label), or one per task (MultiTaskHead)."""
    from mmpretrain.models.heads import MultiLabelClsHead, MultiTaskHead
    from mmpretrain.structures import DataSample, MultiTaskDataSample

    if isinstance(head, MultiTaskHead):
        sample = MultiTaskDataSample()
        for task_name, sub_head in head.task_heads.items():
            sample.set_field(_label_sample(sub_head, index), task_name)
        return sample
    classes = _num_classes(head)
    if isinstance(head, MultiLabelClsHead):
        return DataSample().set_gt_label(sorted({0, (index + 1) % classes}))
    return DataSample().set_gt_label(index % classes)
