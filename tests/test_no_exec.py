"""No static path executes a config: a model.py whose top level writes a marker file (and opens a
loopback socket, then writes a second marker) goes through find, validate and build --backbone (write
with --no-smoke, --diff, --check), as a --model target and inside a workspace; no marker ever appears.
Only ``smoke`` executes a config, and its --help says so."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otxgen.cli import main

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "noexec"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def armed(folder: Path, marker: Path) -> Path:
    """The fixture model.py in ``folder``, its side effects aimed at ``marker``."""
    text = (FIXTURE / "model.py").read_text().replace("@MARKER@", str(marker))
    (folder / "model.py").write_text(text)
    return folder / "model.py"


def markers(marker: Path) -> list[Path]:
    return [path for path in (marker, Path(f"{marker}.socket")) if path.exists()]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "EXECUTED"


@pytest.fixture
def standalone(tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An armed model.py outside any workspace, with a backbone.yaml beside it; the folder is current."""
    folder = tmp_path / "configs"
    folder.mkdir()
    armed(folder, marker)
    shutil.copy(FIXTURE / "backbone.yaml", folder / "backbone.yaml")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def workspace(tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A detection workspace whose model.py is the armed fixture; the workspace is current."""
    folder = tmp_path / "ws"
    assert invoke("build", "--task", "detection", "--workspace", str(folder)).exit_code == 0
    armed(folder, marker)
    monkeypatch.chdir(folder)
    return folder


def test_the_fixture_does_create_the_markers_when_executed(tmp_path: Path, marker: Path) -> None:
    """The control: running the file makes both markers, so their absence below means something."""
    model = armed(tmp_path, marker)
    subprocess.run([sys.executable, str(model)], check=True, timeout=60)
    assert markers(marker) == [marker, Path(f"{marker}.socket")]


# The standalone folder holds its own backbone.yaml, which a TYPE build beside it would not replace.
STANDALONE: dict[str, tuple[list[str], int]] = {
    "find": (["find"], 0),
    "find-json-task": (["find", "--task", "detection", "--format", "json", "mmdet"], 0),
    "find-template": (["find", "--template"], 0),
    "validate-file": (["validate", "model.py"], 0),
    "validate-folder": (["validate", "."], 0),
    "validate-json": (["validate", "model.py", "backbone.yaml", "--output-format", "json"], 0),
    "build-type-diff": (
        ["build", "--backbone", "mmdet.RegNet", "--model", "model.py", "--no-backbone-yaml", "--diff"],
        0,
    ),
    "build-type-check": (
        ["build", "--backbone", "mmdet.RegNet", "--model", "model.py", "--no-backbone-yaml", "--check"],
        1,
    ),
    "build-yaml-check": (["build", "--backbone", "backbone.yaml", "--model", "model.py", "--check"], 1),
    "build-mmseg-diff": (
        ["build", "--backbone", "mmseg.ResNetV1c", "--model", "model.py", "--no-backbone-yaml", "--diff"],
        0,
    ),
    "build-type-write": (
        ["build", "--backbone", "mmdet.RegNet", "--model", "model.py", "--no-backbone-yaml", "--no-smoke"],
        0,
    ),
    "build-yaml-write": (["build", "--backbone", "backbone.yaml", "--model", "model.py", "--no-smoke"], 0),
}


@pytest.mark.parametrize("args,exit_code", STANDALONE.values(), ids=STANDALONE.keys())
def test_static_commands_never_run_a_model_target(
    standalone: Path, marker: Path, args: list[str], exit_code: int
) -> None:
    result = invoke(*args)
    assert result.exit_code == exit_code, result.output
    assert markers(marker) == []


WORKSPACE: dict[str, tuple[list[str], int]] = {
    "find-in-workspace": (["find", "mmdet"], 0),
    "validate-workspace": (["validate", "."], 0),
    "build-diff": (["build", "--backbone", "mmdet.RegNet", "--diff"], 0),
    "build-check": (["build", "--backbone", "mmdet.RegNet", "--check"], 1),
    "build-mmseg-check": (["build", "--backbone", "mmseg.ResNetV1c", "--check"], 1),
    "build-write": (["build", "--backbone", "mmdet.RegNet", "--no-smoke"], 0),
    "build-write-set": (["build", "--backbone", "mmdet.RegNet", "--set", "arch=regnetx_800mf", "--no-smoke"], 0),
}


@pytest.mark.parametrize("args,exit_code", WORKSPACE.values(), ids=WORKSPACE.keys())
def test_static_commands_never_run_a_workspace_config(
    workspace: Path, marker: Path, args: list[str], exit_code: int
) -> None:
    result = invoke(*args)
    assert result.exit_code == exit_code, result.output
    assert markers(marker) == []


@pytest.mark.parametrize("check", [False, True], ids=["write", "then-check"])
def test_a_rewritten_config_keeps_its_side_effects_unrun(workspace: Path, marker: Path, check: bool) -> None:
    """The rewrite keeps the file's own statements (they are the user's), and still runs none of them."""
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    if check:
        assert invoke("build", "--backbone", "mmdet.RegNet", "--check").exit_code == 0
    text = (workspace / "model.py").read_text()
    assert f"pathlib.Path('{marker}').write_text('executed\\n')" in text
    assert "type='RegNet'" in text
    assert markers(marker) == []


def test_smoke_help_says_it_executes_the_config() -> None:
    result = invoke("smoke", "--help")
    assert result.exit_code == 0
    assert "WARNING: this EXECUTES the config" in " ".join(result.output.split())
    assert "run it only on configs you trust" in " ".join(result.output.split())


def test_build_help_says_only_the_smoke_build_executes() -> None:
    result = invoke("build", "--help")
    text = " ".join(result.output.split())
    assert "never executed, except by the final smoke" in text
    assert "Skip the smoke-build (which executes the rewritten config)" in text


HEAVY_PROBE = """
import sys
from click.testing import CliRunner
from otxgen.cli import main
for args in (["find"], ["validate", "."], ["build", "--backbone", "mmdet.RegNet", "--diff"],
             ["build", "--backbone", "mmdet.RegNet", "--check"], ["build", "--backbone", "mmdet.RegNet", "--no-smoke"]):
    CliRunner().invoke(main, args)
print(sorted(m for m in ("torch", "mmcv", "mmengine", "mmdet", "mmseg", "mmpretrain") if m in sys.modules))
"""


def test_static_commands_import_neither_torch_nor_any_mm_package(workspace: Path, marker: Path) -> None:
    """In a fresh interpreter (this one may have imported them for other tests)."""
    done = subprocess.run(
        [sys.executable, "-c", HEAVY_PROBE], cwd=workspace, capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stderr
    assert "type='RegNet'" in (workspace / "model.py").read_text()  # the build did run
    assert markers(marker) == []
