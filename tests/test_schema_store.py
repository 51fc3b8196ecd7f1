"""The committed schemas: content, metaschema validity, index consistency, static loading without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from otxgen.libraries import LIBRARIES, TASKS
from otxgen.schema import store

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
ALL_FILES = sorted(SCHEMAS.glob("*/*.json"))


def test_resnet_depth_is_required_with_its_options() -> None:
    schema = store.load_schema("mmdet.ResNet")
    assert "depth" in schema["required"]
    assert schema["properties"]["depth"]["enum"] == [18, 34, 50, 101, 152]
    assert schema["properties"]["type"] == {"const": "mmdet.ResNet"}
    assert schema["additionalProperties"] is False
    assert schema["x-otxgen"]["required_args"] == {"depth": [18, 34, 50, 101, 152]}
    assert schema["x-otxgen"]["source"] == "mmdet/models/backbones/resnet.py"


def test_regnet_arch_options_start_at_400mf() -> None:
    schema = store.load_schema("mmdet.RegNet")
    options = schema["x-otxgen"]["required_args"]["arch"]
    assert options[0] == "regnetx_400mf"
    assert {"type": "string", "enum": options} in schema["properties"]["arch"]["anyOf"]


def test_hrnet_extra_is_required_without_options_and_shows_its_shape() -> None:
    schema = store.load_schema("mmseg.HRNet")
    assert schema["x-otxgen"]["required_args"] == {"extra": []}
    extra = schema["properties"]["extra"]
    assert extra["required"] == ["stage1", "stage2", "stage3", "stage4"]
    validator = Draft202012Validator(extra)
    assert validator.is_valid(extra["examples"][0])
    assert not validator.is_valid({"stage1": {}})


def test_wrappers_take_model_kwargs_and_mm_classes_do_not() -> None:
    assert store.load_schema("torchvision.resnet50")["additionalProperties"] is True
    assert store.load_schema("mmseg.ResNetV1c")["additionalProperties"] is False
    # ResNetV1c passes **kwargs to ResNet: ResNet's arguments are followed, the fixed ones are not offered.
    properties = store.load_schema("mmseg.ResNetV1c")["properties"]
    assert "base_channels" in properties and "deep_stem" not in properties


def test_pooled_only_backbones_are_not_offered_for_dense_tasks() -> None:
    index = store.load_index()
    tasks = {row["type"]: row["tasks"] for row in index["backbones"]}
    assert tasks["mmpretrain.ConvNeXt"] == list(TASKS)  # configurable to feature maps
    assert tasks["mmpretrain.InceptionV3"] == ["classification"]  # (N, 1000) logits, no knob for maps


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    extension = schema["x-otxgen"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defaults = {k: p["default"] for k, p in schema["properties"].items() if "default" in p}
    assert Draft202012Validator(schema).is_valid({"type": schema["title"], **defaults}) or extension["required_args"]


def test_index_lists_every_schema_and_enough_of_them() -> None:
    index = store.load_index()
    assert index["format"] == 1
    assert set(index["libraries"]) == set(LIBRARIES)
    listed = sorted(row["schema"] for row in index["backbones"])
    assert listed == sorted(f"{p.parent.name}/{p.name}" for p in ALL_FILES)
    assert len(listed) >= 150


def test_the_types_read_from_the_schema_files_are_the_index_types_in_its_order() -> None:
    assert store.StoreCatalog().types() == tuple(row["type"] for row in store.load_index()["backbones"])


def test_store_and_static_tier_import_no_torch() -> None:
    code = (
        "import sys; from otxgen.schema import store; from otxgen.shapes import probe_outputs; "
        "store.load_index(); r = probe_outputs({'type': 'mmdet.ResNet', 'depth': 50}); "
        "assert r.tier == 'static', r; assert 'torch' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr
