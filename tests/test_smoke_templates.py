"""The templates' data pipelines are real: every transform builds in the task's registry, and both
pipelines run end to end on a small synthetic image with annotations of the task's kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "otxgen" / "templates").glob("*/template.yaml"))
SCOPE = {
    "classification": "mmpretrain",
    "detection": "mmdet",
    "instance-segmentation": "mmdet",
    "segmentation": "mmseg",
}
PACKED = {
    "classification": "DataSample",
    "detection": "DetDataSample",
    "instance-segmentation": "DetDataSample",
    "segmentation": "SegDataSample",
}


def _sample(task: str, tmp_path: Path) -> dict[str, Any]:
    import mmcv

    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mmcv.imwrite(image, str(tmp_path / "image.png"))
    results: dict[str, Any] = {"img_path": str(tmp_path / "image.png"), "img_id": 0}
    if task == "classification":
        results["gt_label"] = 1
    elif task == "segmentation":
        labels = np.zeros((120, 160), dtype=np.uint8)
        labels[30:90, 40:120] = 1
        mmcv.imwrite(labels, str(tmp_path / "labels.png"))
        results |= {"seg_map_path": str(tmp_path / "labels.png"), "reduce_zero_label": False, "seg_fields": []}
    else:
        polygon = [[40.0, 30.0, 120.0, 30.0, 120.0, 90.0, 40.0, 90.0]]
        results["instances"] = [{"bbox": [40.0, 30.0, 120.0, 90.0], "bbox_label": 1, "ignore_flag": 0, "mask": polygon}]
    return results


@pytest.mark.parametrize("template_yaml", TEMPLATES, ids=[p.parent.name for p in TEMPLATES])
def test_data_pipelines_build_and_run(template_yaml: Path, tmp_path: Path) -> None:
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import TRANSFORMS, init_default_scope

    task = yaml.safe_load(template_yaml.read_text())["task"]
    config = Config.fromfile(str(template_yaml.parent / "data_pipeline.py"))
    assert config.default_scope == SCOPE[task]
    init_default_scope(SCOPE[task])
    for name in ("train_pipeline", "test_pipeline"):
        steps = [TRANSFORMS.build(step) for step in config[name]]
        packed = Compose(steps)(_sample(task, tmp_path))
        assert packed is not None, f"{name} dropped the sample"
        assert type(packed["data_samples"]).__name__ == PACKED[task]
        assert packed["inputs"].ndim == 3 and packed["inputs"].shape[0] == 3
