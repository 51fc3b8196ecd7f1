"""The published hooks, run through pre-commit itself (``pre-commit run``), offline.

A copy of the package sources is committed to a temporary git repository (the checkout itself may
hold an untracked virtual env); a temporary user repository points its ``.pre-commit-config.yaml`` at
that commit, and pre-commit builds the hook's ``language: python`` environment from it with pip, as it
does for a user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from otxgen.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "validate"
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "otxgen", "codemods", "schemas")
HEAVY = ("torch", "torchvision", "mmcv", "mmengine", "mmdet", "mmseg", "mmpretrain", "pytorchcv")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("hooks")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in PACKAGE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        else:
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hooks under test")
    return repo


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory, hook_repo: Path) -> Path:
    repo = tmp_path_factory.mktemp("user")
    hooks = [{"id": "otxgen-validate"}, {"id": "otxgen-check"}]
    config = {"repos": [{"repo": str(hook_repo), "rev": head(hook_repo), "hooks": hooks}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    for kind in ("valid", "invalid"):
        (repo / kind).mkdir()
        shutil.copy2(FIXTURES / kind / "yaml" / "backbone.yaml", repo / kind / "backbone.yaml")
        shutil.copy2(FIXTURES / kind / "config" / "model.py", repo / kind / "model.py")
    for workspace in ("ws-fresh", "ws-stale"):  # built with RegNet; ws-stale's backbone.yaml then edited
        runner = CliRunner()
        assert (
            runner.invoke(main, ["build", "--task", "detection", "--workspace", str(repo / workspace)]).exit_code == 0
        )
        swap = ["build", "--backbone", "mmdet.RegNet", "--no-smoke", "--workspace", str(repo / workspace)]
        assert runner.invoke(main, swap).exit_code == 0
    stale = repo / "ws-stale" / "backbone.yaml"
    stale.write_text(stale.read_text().replace("regnetx_400mf", "regnetx_800mf"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(
    user_repo: Path, home: Path, *files: str, hook: str = "otxgen-validate"
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pre_commit", "run", hook, "--files", *files]
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(command, cwd=user_repo, capture_output=True, text=True, env=env, check=False, timeout=600)


def test_hook_definitions() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["otxgen-validate"]["language"] == "python"
    assert hooks["otxgen-check"]["entry"] == "otxgen build --check --no-smoke --backbone"
    assert (hooks["otxgen-smoke"]["language"], hooks["otxgen-smoke"]["stages"]) == ("system", ["manual"])


def test_validate_hook_passes_valid_files(user_repo: Path, pre_commit_home: Path) -> None:
    done = pre_commit(user_repo, pre_commit_home, "valid/backbone.yaml", "valid/model.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "otxgen validate" in done.stdout and "Passed" in done.stdout


def test_validate_hook_fails_invalid_files_with_positions(user_repo: Path, pre_commit_home: Path) -> None:
    done = pre_commit(user_repo, pre_commit_home, "invalid/backbone.yaml", "invalid/model.py")
    assert done.returncode == 1
    assert "- exit code: 1" in done.stdout
    assert "invalid/backbone.yaml:4:10: backbone.depth: 'fifty' is not one of [18, 34, 50, 101, 152]" in done.stdout
    assert "invalid/model.py:9:9: model.backbone.styel:" in done.stdout


def test_hook_environment_has_core_dependencies_only(user_repo: Path, pre_commit_home: Path) -> None:
    pre_commit(user_repo, pre_commit_home, "valid/backbone.yaml")
    site_packages = list(pre_commit_home.glob("repo*/py_env-*/lib/python*/site-packages"))
    assert site_packages, "pre-commit built no python environment"
    installed = {p.name.split("-")[0].lower() for p in site_packages[0].iterdir()}
    assert {"otxgen", "libcst", "jsonschema", "yaml", "click"} <= installed
    assert not installed & set(HEAVY)


def test_check_hook_passes_an_up_to_date_workspace_and_fails_a_stale_one(
    user_repo: Path, pre_commit_home: Path
) -> None:
    fresh = pre_commit(user_repo, pre_commit_home, "ws-fresh/backbone.yaml", hook="otxgen-check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "Passed" in fresh.stdout
    both = pre_commit(
        user_repo, pre_commit_home, "ws-fresh/backbone.yaml", "ws-stale/backbone.yaml", hook="otxgen-check"
    )
    assert both.returncode == 1
    assert "[!] Would change: ws-stale/model.py" in both.stdout
    assert "[*] Up to date: ws-fresh/model.py" in both.stdout
