"""``otxgen schema export``: the committed tree has no drift, output is deterministic, drift is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.app.schema_export import export, render
from otxgen.cli import main
from otxgen.options import SchemaExportOptions

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def _copy_committed(tmp_path: Path, library: str) -> Path:
    out = tmp_path / "schemas"
    shutil.copytree(SCHEMAS / library, out / library)
    shutil.copy(SCHEMAS / "index.json", out / "index.json")
    shutil.copy(SCHEMAS / "lineage.json", out / "lineage.json")
    return out


def test_committed_mmdet_schemas_do_not_drift() -> None:
    result = CliRunner().invoke(main, ["schema", "export", "mmdet", "--check"])
    assert result.exit_code == 0, result.output


def test_drift_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    out = _copy_committed(tmp_path, "mmdet")
    tampered = out / "mmdet" / "ResNet.json"
    tampered.write_text(tampered.read_text(encoding="utf-8").replace('"ResNet backbone."', '"old"'), encoding="utf-8")
    (out / "mmdet" / "Gone.json").write_text('{"x-otxgen": {}}\n', encoding="utf-8")
    (out / "mmdet" / "notes.json").write_text('{"mine": true}\n', encoding="utf-8")  # not otxgen's: no drift
    before = {p: p.read_bytes() for p in out.rglob("*.json")}
    messages: list[str] = []
    outcome = export(SchemaExportOptions(("mmdet",), out, check=True), messages.append)
    assert outcome.exit_code == 1
    assert outcome.stdout.splitlines() == [str(tampered), str(out / "mmdet" / "Gone.json")]
    assert {p: p.read_bytes() for p in out.rglob("*.json")} == before
    assert "drift" in messages[-1]


def test_export_rewrites_drift_and_is_then_clean(tmp_path: Path) -> None:
    out = _copy_committed(tmp_path, "mmdet")
    (out / "mmdet" / "RegNet.json").unlink()
    (out / "mmdet" / "Gone.json").write_text('{"x-otxgen": {}}\n', encoding="utf-8")  # one otxgen wrote
    notes = out / "mmdet" / "notes.json"
    notes.write_text('{"mine": true}\n', encoding="utf-8")
    assert export(SchemaExportOptions(("mmdet",), out), lambda _: None).exit_code == 0
    assert notes.read_text(encoding="utf-8") == '{"mine": true}\n'  # a user's file there is kept
    assert (out / "mmdet" / "RegNet.json").read_text(encoding="utf-8") == (SCHEMAS / "mmdet" / "RegNet.json").read_text(
        encoding="utf-8"
    )
    assert not (out / "mmdet" / "Gone.json").exists()
    assert export(SchemaExportOptions(("mmdet",), out, check=True), lambda _: None).exit_code == 0


FOREIGN = {
    "index.json": '{"backbones": "my own list"}\n',
    "mmdet/ResNet.json": '{"backbones": "my own list"}\n',
    "index.json ": '{"format": 1, "libraries": "abc"}\n',  # another tool's index with a format number
    "index.json  ": '{"format": 1, "libraries": {}, "backbones": [1]}\n',
    "lineage.json": '{"lineage": "my family tree"}\n',
}


@pytest.mark.parametrize("case", list(FOREIGN), ids=lambda case: case.strip() + str(len(case)))
def test_a_file_otxgen_did_not_write_is_never_replaced(tmp_path: Path, case: str) -> None:
    out = tmp_path / "out"
    (out / "mmdet").mkdir(parents=True)
    foreign = case.strip()
    (out / foreign).write_text(FOREIGN[case], encoding="utf-8")
    result = CliRunner().invoke(main, ["schema", "export", "mmdet", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"{out / foreign}: exists and was not written by otxgen" in result.stderr
    assert (out / foreign).read_text(encoding="utf-8") == FOREIGN[case]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == [foreign]


def test_render_is_deterministic() -> None:
    assert render({"b": [2, 1], "a": {"y": 1, "x": None}}) == (
        '{\n  "a": {\n    "x": null,\n    "y": 1\n  },\n  "b": [\n    2,\n    1\n  ]\n}\n'
    )
