"""The schemas ship inside the wheel as ``otxgen/schemas`` and the package list is complete."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("otxgen", "codemods")
        for p in (ROOT / top).rglob("*.py")
        if "templates" not in p.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["tool"]["setuptools"]["package-dir"]["otxgen.schemas"] == "schemas"


def test_wheel_contains_the_schemas(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("otxgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "otxgen/schemas/index.json" in names
    assert "otxgen/schemas/mmdet/ResNet.json" in names
    schemas = ROOT / "schemas"
    committed = {f"otxgen/schemas/{p.relative_to(schemas).as_posix()}" for p in schemas.rglob("*.json")}
    assert committed <= names
