"""OTX 1.x-form workspaces (``fixtures/otx1``): YAML bases written by mmcv's dumper (``!!python/tuple``, a
string ``_base_``), several bases that set ``model``, the backbone's type in a YAML base and only
``out_indices`` in the child. The config view reads them as OTX 1.x did; validate and the merged view
agree. Core install only (the build and run of the swapped models: ``test_otx1_build.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.cli import main
from otxgen.config.inherit import BaseFiles, inherit, read_any
from otxgen.config.model_config import ConfigFacts

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "otx1"
NAMES = sorted(path.name for path in CASES.iterdir() if path.is_dir())


def _merged(model: Path) -> ConfigFacts:
    merged = inherit(read_any(str(model), model.read_text()), BaseFiles(lambda path: Path(path).read_text()))
    assert not isinstance(merged, str), merged
    return merged


@pytest.mark.parametrize("name", NAMES)
def test_validate_reads_the_chain_as_otx_did_and_says_so(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", str(CASES / name / "model.py")])
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert not [line for line in lines if ": note: " not in line], lines
    assert any("merged as OTX 1.x merges bases" in line and "mmengine itself refuses" in line for line in lines)


def test_the_earlier_base_wins_and_the_child_wins_over_all() -> None:
    classifier = _merged(CASES / "classification-resnet" / "model.py").get("model")
    assert classifier["head"]["topk"] == (1, 5)  # base/classifier.py (via the recipe) before linear_head.py
    assert classifier["head"]["num_classes"] == 5  # the child
    assert classifier["backbone"]["type"] == "ResNet"  # only the YAML base says it
    assert classifier["backbone"]["out_indices"] == (3,)  # !!python/tuple is a tuple
    detector = _merged(CASES / "detection-atss" / "model.py").get("model")
    assert detector["backbone"]["out_indices"] == (1, 2, 3)
    assert detector["backbone"]["frozen_stages"] == 1  # resnet18.yaml over its own string _base_
    assert detector["backbone"]["norm_eval"] is True  # only common.yaml says it


def test_a_position_in_the_yaml_base_points_into_it() -> None:
    merged = _merged(CASES / "detection-atss" / "model.py")
    where = merged.names.where(("model", "backbone", "depth"))
    assert (Path(where.file).name, where.line) == ("resnet18.yaml", 6)


@pytest.mark.parametrize("name", NAMES)
def test_a_yaml_base_has_one_verdict_read_alone_or_as_a_base(name: str) -> None:
    for yaml_base in sorted((CASES / name).rglob("*.yaml")):
        result = CliRunner().invoke(main, ["validate", str(yaml_base)])
        assert result.exit_code == 0, (yaml_base, result.stdout)
        assert " error" not in result.stdout


def test_a_python_object_tag_in_a_base_is_an_error_of_the_child_at_its_entry(tmp_path: Path) -> None:
    case = tmp_path / "detection-atss"
    shutil.copytree(CASES / "detection-atss", case)
    yaml_base = case / "backbones" / "resnet18.yaml"
    yaml_base.write_text(yaml_base.read_text().replace("type: ResNet", "type: !!python/name:os.system ''"))
    alone = CliRunner().invoke(main, ["validate", str(yaml_base)])
    child = CliRunner().invoke(main, ["validate", str(case / "model.py")])
    assert (alone.exit_code, child.exit_code) == (2, 2)
    assert "!!python/name:os.system" in alone.stdout
    assert f"{case / 'model.py'}:8:5: " in child.stdout and "!!python/name:os.system" in child.stdout
    build = CliRunner().invoke(
        main, ["build", "--backbone", "mmdet.RegNet", "--model", str(case / "model.py"), "--diff", "--no-smoke"]
    )
    assert build.exit_code == 2
    assert f"{case / 'model.py'}:8:5: " in build.stderr
