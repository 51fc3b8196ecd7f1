"""One verdict: validate's consumer check and the expectations the plan and the smoke-build hold the
backbone's levels against come from the same facts, so on the same model they agree. A property over
every golden case's original and planned configs, and the OTX 1.x and validate fixtures. Core install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from otxgen.config.inherit import BaseFiles, inherit, read_any
from otxgen.config.model_config import ConfigFacts
from otxgen.schema.resolve import resolve_type
from otxgen.schema.store import StoreCatalog
from otxgen.schema.table import ChannelTable
from otxgen.smoke.check import check_levels
from otxgen.smoke.expect import expectation
from otxgen.validate.backbones import infer_library
from otxgen.validate.channels import check_consumers

ROOT = Path(__file__).resolve().parent.parent
TASKS = {"mmdet": "detection", "mmseg": "segmentation", "mmpretrain": "classification"}


BUILD = ROOT / "fixtures" / "build"
GOLDEN = sorted(p.name for p in BUILD.iterdir() if (p / "args.json").is_file())


def _configs() -> list[tuple[str, str]]:
    """(kind, name): a golden case's original or its result, an OTX 1.x workspace, a validate case."""
    found = [("original", case) for case in GOLDEN]
    found += [("planned", case) for case in GOLDEN if (BUILD / case / "expected").is_dir()]
    found += [("otx1", p.parent.name) for p in sorted((ROOT / "fixtures" / "otx1").glob("*/model.py"))]
    cases = sorted((ROOT / "fixtures" / "validate").glob("*tive/*/model.py"))
    return [*found, *(("validate", str(p.parent.relative_to(ROOT / "fixtures" / "validate"))) for p in cases)]


def _path(kind: str, name: str, tmp_path: Path) -> Path:
    if kind in ("original", "planned"):
        shutil.copytree(BUILD / name / "input", tmp_path, dirs_exist_ok=True)
        if kind == "planned":  # the files the build changed, over the others
            shutil.copytree(BUILD / name / "expected", tmp_path, dirs_exist_ok=True)
        return tmp_path / json.loads((BUILD / name / "args.json").read_text())["model"]
    if kind == "otx1":
        return ROOT / "fixtures" / "otx1" / name / "model.py"
    return ROOT / "fixtures" / "validate" / name / "model.py"


def _merged(path: Path) -> ConfigFacts:
    facts = read_any(str(path), path.read_text())
    merged = inherit(facts, BaseFiles(lambda base: Path(base).read_text()))
    return facts if isinstance(merged, str) else merged


@pytest.mark.parametrize(("kind", "name"), _configs())
def test_validate_and_the_plans_level_check_agree_on_channels(kind: str, name: str, tmp_path: Path) -> None:
    catalog = StoreCatalog()
    facts = _merged(_path(kind, name, tmp_path))
    model = facts.get("model")
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(backbone, dict) or not isinstance(backbone.get("type"), str) or facts.opaque:
        pytest.skip("no literal backbone here: nothing for either check to hold it against")
    library = infer_library(facts, model)
    resolved = resolve_type(backbone["type"], library, catalog)
    if resolved.type is None:
        pytest.skip(f"the backbone's type has no schema: {resolved.problem}")
    instance = {**backbone, "type": resolved.type}
    rows = ChannelTable.of(instance, catalog.schema(resolved.type), catalog).outputs(instance)
    if not isinstance(rows, list) or any(r.get("stride") is None for r in rows):
        pytest.skip("the table does not say these outputs")
    findings = check_consumers(model, facts.names, ("model",), [int(r["channels"]) for r in rows])
    validate_ok = not [f for f in findings if f.severity == "error"]
    side = 64 * max(int(r["stride"]) for r in rows)
    shapes = [(1, int(r["channels"]), side // int(r["stride"]), side // int(r["stride"])) for r in rows]
    report = check_levels(list(shapes), side, expectation(model, TASKS.get(library or "", "detection")))
    channel_problems = [p for p in report.problems if " channels, " in p or ("expects" in p and "entries" in p)]
    assert validate_ok == (not channel_problems), (findings, report.problems)
