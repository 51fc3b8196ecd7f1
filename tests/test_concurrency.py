"""Two ``otxgen build --backbone`` processes on one workspace at once: the folder lock (``fsio.folder_lock``,
held from the first read to the last write) refuses the second with exit 2 and a clear message, or the
second runs after the first; a reader polling the files meanwhile only ever sees complete versions."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen import fsio
from otxgen.cli import main

BUILD_A = ["build", "--backbone", "mmdet.RegNet", "--no-smoke"]
BUILD_B = ["build", "--backbone", "mmdet.RegNet", "--set", "arch=regnetx_800mf", "--no-smoke"]
REFUSAL = "another otxgen process is writing here; try again when it ends"


def in_process(folder: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.chdir(folder)
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def spawn(folder: Path, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "otxgen", *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def original(tmp_path: Path) -> Path:
    folder = tmp_path / "original"
    assert CliRunner().invoke(main, ["build", "--task", "detection", "--workspace", str(folder)]).exit_code == 0
    return folder


@pytest.fixture
def expected(tmp_path: Path, original: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, str]]:
    """(model.py, backbone.yaml) after A alone, B alone, and B run after A (in-process, one at a time)."""
    outputs = {}
    for name, runs in {"A": [BUILD_A], "B": [BUILD_B], "A then B": [BUILD_A, BUILD_B]}.items():
        folder = tmp_path / name
        shutil.copytree(original, folder)
        for args in runs:
            in_process(folder, args, monkeypatch)
        outputs[name] = ((folder / "model.py").read_text(), (folder / "backbone.yaml").read_text())
    return outputs


class Poller(threading.Thread):
    """Reads ``path`` in a loop until stopped, keeping every distinct content it saw."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.seen, self.stop = path, set[str](), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.seen.add(self.path.read_text())
            except FileNotFoundError:  # backbone.yaml before its first write
                self.seen.add("")


def test_a_rerun_after_the_other_build_gives_that_builds_output(expected: dict[str, tuple[str, str]]) -> None:
    """So every order of two complete runs ends in one of the two single-run outputs."""
    assert expected["A then B"] == expected["B"]
    assert expected["A"][0] != expected["B"][0]
    ast.parse(expected["A"][0])
    ast.parse(expected["B"][0])


@pytest.mark.parametrize("round_", range(3))
def test_two_builds_at_once_never_interleave(
    tmp_path: Path, original: Path, expected: dict[str, tuple[str, str]], round_: int
) -> None:
    workspace = tmp_path / f"race{round_}"
    shutil.copytree(original, workspace)
    before = (workspace / "model.py").read_text()
    pollers = [Poller(workspace / "model.py"), Poller(workspace / "backbone.yaml")]
    for poller in pollers:
        poller.start()
    processes = [spawn(workspace, BUILD_A), spawn(workspace, BUILD_B)]
    outcomes = [(process.wait(timeout=120), process.communicate()[1]) for process in processes]
    for poller in pollers:
        poller.stop.set()
        poller.join()
    for code, stderr in outcomes:
        assert code in (0, 2), stderr
        if code == 2:
            assert stderr.strip().splitlines()[-1] == f"otxgen: error: {workspace.resolve()}: {REFUSAL}"
    assert any(code == 0 for code, _ in outcomes)
    final = ((workspace / "model.py").read_text(), (workspace / "backbone.yaml").read_text())
    assert final in (expected["A"], expected["B"])
    ast.parse(final[0])
    assert pollers[0].seen <= {before, expected["A"][0], expected["B"][0]}
    assert pollers[1].seen <= {"", expected["A"][1], expected["B"][1]}
    assert not [p.name for p in workspace.iterdir() if p.name.endswith(fsio.TEMP_SUFFIX)]


def test_a_build_while_another_holds_the_lock_is_refused_and_writes_nothing(original: Path) -> None:
    before = {p.name: p.read_bytes() for p in original.iterdir()}
    with fsio.folder_lock(original):
        process = spawn(original, BUILD_A)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1] == f"otxgen: error: {original.resolve()}: {REFUSAL}"
    assert {p.name: p.read_bytes() for p in original.iterdir()} == before


def test_diff_and_check_read_while_another_build_holds_the_lock(original: Path) -> None:
    """Only writers take the lock: a pre-commit ``--check`` is never refused by a running build."""
    with fsio.folder_lock(original):
        process = spawn(original, ["build", "--backbone", "mmdet.RegNet", "--check"])
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "[!] Would change:" in stderr
