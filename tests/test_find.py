"""``otxgen find`` reads the committed schema index: table, JSON, task filter, errors, no torch."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from click.testing import CliRunner

from otxgen.cli import main


def _find(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["find", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_mmdet_backbones_with_required_args() -> None:
    code, out, _ = _find("--backbone", "mmdet", "--format", "json")
    assert code == 0
    backbones = {b["type"]: b for b in json.loads(out)["backbones"]}
    assert len(backbones) >= 18
    assert backbones["mmdet.ResNet"]["required_args"] == {"depth": [18, 34, 50, 101, 152]}
    assert backbones["mmdet.RegNet"]["required_args"]["arch"][0] == "regnetx_400mf"
    assert backbones["mmdet.ResNet"]["schema"] == "mmdet/ResNet.json"


def test_every_library_lists_at_least_ten() -> None:
    code, out, _ = _find("--backbone", "--format", "json")
    assert code == 0
    libraries = [b["library"] for b in json.loads(out)["backbones"]]
    for library in ("mmdet", "mmseg", "mmpretrain", "torchvision", "pytorchcv"):
        assert libraries.count(library) >= 10, library


def test_table_matches_json() -> None:
    _, table, _ = _find("--backbone", "mmdet")
    _, out, _ = _find("--backbone", "mmdet", "--format", "json")
    assert "| Index | Backbone Type" in table and "Required-Args" in table and "Options" in table
    for backbone in json.loads(out)["backbones"]:
        assert f" {backbone['type']} " in table
    resnet_row = next(line for line in table.splitlines() if " mmdet.ResNet " in line)
    assert "depth" in resnet_row and "18, 34, 50, 101, 152" in resnet_row


def test_long_option_lists_wrap() -> None:
    _, table, _ = _find("--backbone", "mmdet")
    widths = {len(line) for line in table.splitlines()}
    assert len(widths) == 1, "every line of the table has the same width"
    regnet = table.splitlines().index(next(line for line in table.splitlines() if " mmdet.RegNet " in line))
    assert "regnetx" in table.splitlines()[regnet + 1], "the RegNet options continue on the next line"


def test_alias_and_task_filter() -> None:
    _, out, _ = _find("--backbone", "mmcls", "--task", "detection", "--format", "json")
    found = json.loads(out)["backbones"]
    assert found and all(b["library"] == "mmpretrain" and "detection" in b["tasks"] for b in found)


def test_excluded_models_are_visible() -> None:
    _, out, _ = _find("--backbone", "torchvision", "--format", "json")
    excluded = {e["type"]: e["reason"] for e in json.loads(out)["excluded"]}
    assert excluded.get("torchvision.vit_b_16")


def test_unknown_library_exits_2_naming_the_valid_ones() -> None:
    code, _, err = _find("--backbone", "mmfoo")
    assert code == 2
    assert err.count("\n") == 1 and "valid: mmdet, mmseg, mmpretrain, torchvision, pytorchcv" in err


def test_templates_are_listed() -> None:
    code, out, _ = _find("--template", "--format", "json")
    templates = json.loads(out)["templates"]
    assert code == 0
    assert {t["task"] for t in templates if t["default"]} == {
        "classification",
        "detection",
        "instance-segmentation",
        "segmentation",
    }


def _modules_after(*argv: str) -> set[str]:
    code = (
        "import sys\nfrom otxgen.cli import main\n"
        f"try:\n    main({list(argv)!r})\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stderr.rpartition("MODULES ")[2].split())


def test_help_and_find_import_no_torch() -> None:
    for argv in (["--help"], ["find", "--backbone", "mmdet"], ["find", "--template"]):
        loaded = _modules_after(*argv)
        assert "torch" not in loaded and not any(m.startswith(("mmdet", "mmengine")) for m in loaded), argv


def test_verified_only_keeps_what_the_committed_matrix_passed() -> None:
    """``find --task T --verified-only`` against ``schemas/verified.json`` read here."""
    from importlib import resources

    data = json.loads(resources.files("otxgen.schemas").joinpath("verified.json").read_text())
    template = next(t for t, meta in data["templates"].items() if meta["task"] == "detection" and meta["default"])
    passed = {b for b, row in data["cells"].items() if template in row and row[template][1] == "ok"}
    code, out, _ = _find("--backbone", "--task", "detection", "--verified-only", "--format", "json")
    assert code == 0
    listed = json.loads(out)["backbones"]
    assert listed and {b["type"] for b in listed} == passed & {b["type"] for b in listed}
    assert all(b["verified"]["outcome"] == "ok" and b["verified"]["template"] == template for b in listed)
    _, table, _ = _find("--backbone", "mmdet", "--task", "detection")
    assert "| Verified" in table and "yes (forward)" in table


def test_verified_only_needs_a_task() -> None:
    code, _, err = _find("--backbone", "mmdet", "--verified-only")
    assert code == 2 and "--verified-only needs --task" in err


def test_sort_and_weights_only() -> None:
    code, out, _ = _find("--backbone", "torchvision", "--weights-only", "--format", "json")
    assert code == 0 and all(a["weights"] for b in json.loads(out)["backbones"] for a in b["archs"])
    _, table, _ = _find("--backbone", "mmpretrain", "--sort", "params")
    cells = [line.split("|")[4].strip() for line in table.splitlines() if re.match(r"\| \d+ ", line)]
    known = [float(cell.rstrip("*")) for cell in cells if cell]
    assert known == sorted(known) and len(known) > 300
    assert all(not cell for cell in cells[len(known) :])  # unknown figures last


def test_deployable_only_keeps_what_the_committed_deployment_matrix_exported() -> None:
    """``find --task T --deployable-only`` against ``schemas/deploys.json`` read here: a cell deploys when
    every check, export included, passed; the others show where they failed, and backbones the file does
    not hold yet show "?"."""
    from importlib import resources

    data = json.loads(resources.files("otxgen.schemas").joinpath("deploys.json").read_text())
    for task in ("classification", "detection"):
        template = next(t for t, meta in data["templates"].items() if meta["task"] == task and meta["default"])
        assert "export" in data["templates"][template]["checks"]
        deployed = {b for b, row in data["cells"].items() if template in row and row[template][1] == "ok"}
        code, out, _ = _find("--backbone", "--task", task, "--deployable-only", "--format", "json")
        assert code == 0
        listed = json.loads(out)["backbones"]
        assert listed and {b["type"] for b in listed} == deployed
        assert all(b["deploys"] == {"template": template, "deploys": "yes", "reason": ""} for b in listed)
    code, out, _ = _find("--backbone", "--task", "detection", "--format", "json")
    rows = {b["type"]: b["deploys"] for b in json.loads(out)["backbones"]}
    template = next(t for t, meta in data["templates"].items() if meta["task"] == "detection" and meta["default"])
    measured = {b for b, row in data["cells"].items() if template in row}
    assert all((rows[b] is not None) == (b in measured) for b in rows), "not measured yet: None, shown as ?"
    _, table, _ = _find("--backbone", "torchvision", "--task", "classification")
    assert "| Deploys" in table
    _, table, _ = _find("--backbone", "mmdet", "--task", "segmentation")
    assert "| Verified" in table and "Deploys" not in table, "the deployment matrix covers two tasks"


def test_deployable_only_needs_a_task_the_deployment_matrix_covers() -> None:
    code, _, err = _find("--backbone", "mmdet", "--deployable-only")
    assert code == 2 and "--deployable-only needs --task" in err
    code, _, err = _find("--backbone", "--task", "segmentation", "--deployable-only")
    assert code == 2 and "measured for classification and detection, not segmentation" in err


def test_a_failed_export_is_read_back_as_its_stage() -> None:
    """The words the export check begins a failure with, read back as the stage by the committed matrix."""
    from otxgen.facts.deploys import COMPILE_FAILED, CONVERSION_FAILED, INFERENCE_FAILED
    from otxgen.matrix.verified import Verified

    def cell(furthest: str, outcome: str, reason: str, checks: tuple[str, ...]) -> Verified:
        return Verified("timm.x", "t", "detection", checks, furthest, outcome, reason)

    export = ("static", "build", "forward", "export")
    assert cell("export", "ok", "", export).deploys == "yes"
    assert cell("forward", "failed", f"openvino: {CONVERSION_FAILED} at aten::foo: no", export).deploys == "conversion"
    assert cell("forward", "failed", f"openvino: {COMPILE_FAILED} Exception from src", export).deploys == "compile"
    assert cell("forward", "failed", "openvino: output 0: max abs error 3 > 0.001", export).deploys == "mismatch"
    assert cell("forward", "failed", f"openvino: {INFERENCE_FAILED} Exception", export).deploys == "inference"
    quoting = f"openvino: {CONVERSION_FAILED} at aten::x: the op said {COMPILE_FAILED}"
    assert cell("forward", "failed", quoting, export).deploys == "conversion", "the stage is where it begins"
    assert cell("forward", "hang", "no result after 300 s", export).deploys == "hang"
    assert cell("build", "failed", "the forward failed", export).deploys is None, "no model ran: nothing to deploy"
    assert cell("forward", "ok", "", export[:3]).deploys is None, "the export was not asked"


def test_a_verdict_is_shown_on_the_arch_the_matrix_measured_only() -> None:
    """The matrix runs each backbone's default arch (the first option of a required argument, else the
    schema's default ``arch``): sorted one arch a row, its other archs say "not measured", and
    ``--verified-only`` lists the measured arch alone. Read from the committed files here."""
    from otxgen.matrix.verified import load_verified
    from otxgen.schema.store import load_schema

    args = load_verified().args
    expected = {"mmpretrain.ResNet": str(args["mmpretrain.ResNet"]["depth"])}
    expected["mmpretrain.ConvNeXt"] = load_schema("mmpretrain.ConvNeXt")["properties"]["arch"]["default"]
    _, table, _ = _find("--backbone", "mmpretrain", "--task", "classification", "--sort", "top1")
    for backbone, measured in expected.items():
        rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines() if f" {backbone} " in line]
        assert len(rows) > 1, backbone
        for row in rows:
            assert (row[-2] == "not measured") == (row[2].split(" ")[0] != measured), (backbone, row)
            assert (row[-1] == "?") == (row[2].split(" ")[0] != measured), (backbone, row)
    _, out, _ = _find("--backbone", "mmpretrain", "--task", "classification", "--verified-only", "--format", "json")
    listed = {b["type"]: b for b in json.loads(out)["backbones"]}
    for backbone, measured in expected.items():
        assert [a["arch"][0] for a in listed[backbone]["archs"]] == [measured]
