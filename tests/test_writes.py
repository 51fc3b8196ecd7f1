"""What a build writes, where, and how to get it back: ``backbone.yaml`` beside what it describes, a
``--diff`` that ``patch`` applies and ``patch -R`` undoes byte for byte (every file, created ones too),
writes that a stop signal cannot cut in half, temp files a killed build leaves and the next one
removes, owners and modes kept, line endings kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from corpus.signals import as_from_a_terminal

from otxgen.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_MODEL = ROOT / "otxgen" / "templates" / "detection-atss-mobilenetv2" / "model.py"
PATCH = shutil.which("patch")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


SCHEMA_COPY = ".otxgen/schemas/mmdet/RegNet.json"  # what backbone.yaml's $schema line names


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (symlinks as their target's bytes), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert invoke("build", "--task", "detection", "--workspace", str(tmp_path / "ws")).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


# -- backbone.yaml: the workspace's, or only where asked -----------------------------------------------


def test_model_inside_a_workspace_folder_leaves_the_workspace_backbone_yaml_alone(workspace: Path) -> None:
    """``--model`` elsewhere, run from inside a workspace: the workspace's backbone.yaml (with the
    user's edits) describes the workspace's model.py, which this build does not touch."""
    assert invoke("build", "--backbone", "mmdet.ResNet", "--no-smoke").exit_code == 0
    own = workspace / "backbone.yaml"
    own.write_text(own.read_text() + "# my edit\n")
    before = own.read_bytes()
    other = workspace.parent / "other" / "m.py"
    other.parent.mkdir()
    shutil.copy(TEMPLATE_MODEL, other)
    result = invoke("build", "--backbone", "mmdet.RegNet", "--model", str(other), "--no-smoke")
    assert result.exit_code == 0, result.output
    assert own.read_bytes() == before
    assert sorted(p.name for p in other.parent.iterdir()) == ["m.py"]  # --model leaves no backbone.yaml


def test_backbone_yaml_path_records_the_backbone_where_asked(workspace: Path) -> None:
    other = workspace.parent / "other" / "m.py"
    other.parent.mkdir()
    shutil.copy(TEMPLATE_MODEL, other)
    record = workspace.parent / "records" / "regnet.yaml"
    record.parent.mkdir()
    args = ("--model", str(other), "--backbone-yaml", str(record), "--no-smoke")
    result = invoke("build", "--backbone", "mmdet.RegNet", *args)
    assert result.exit_code == 0, result.output
    assert "type: mmdet.RegNet" in record.read_text()
    assert f"[*] Save backbone configuration: {record}" in result.stderr
    reference = record.read_text().splitlines()[0].partition("$schema=")[2]  # relative to its own folder
    assert (record.parent / reference).is_file()


def test_the_schema_line_holds_wherever_the_workspace_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workspaces at different depths write the same backbone.yaml, byte for byte: its ``$schema``
    names the copy of the schema its folder keeps, not the folder otxgen is installed in; the workspace
    moved elsewhere (committed, cloned) still resolves the line, and ``--check`` sees no change."""
    written = []
    for folder in (tmp_path / "one", tmp_path / "two" / "levels" / "deeper"):
        folder.mkdir(parents=True)
        monkeypatch.chdir(folder)
        assert invoke("build", "--task", "detection").exit_code == 0
        monkeypatch.chdir(folder / "otx-workspace-DETECTION")
        assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
        written.append(folder / "otx-workspace-DETECTION")
    first, second = (tree(ws) for ws in written)
    assert first["backbone.yaml"] == second["backbone.yaml"] and first[SCHEMA_COPY] == second[SCHEMA_COPY]
    moved = tmp_path / "clone" / "ws"
    shutil.copytree(written[0], moved)
    shutil.rmtree(written[0])
    line = (moved / "backbone.yaml").read_text().splitlines()[0]
    reference = line.partition("$schema=")[2]
    assert reference == SCHEMA_COPY and json.loads((moved / reference).read_text())["title"] == "mmdet.RegNet"
    monkeypatch.chdir(moved)
    checked = invoke("build", "--backbone", "mmdet.RegNet", "--check")
    assert checked.exit_code == 0, checked.output


def test_a_backbone_yaml_from_another_checkout_is_up_to_date(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ``$schema`` line points at the schema from where otxgen is installed: the same swap committed
    from another clone (another relative path, CRLF endings from its checkout) is no change, for
    ``--check`` (the pre-commit hook) and for a build, which leaves the file as it is; a record that says
    another backbone still differs."""
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    moved = tmp_path / "elsewhere" / "deeper" / "ws"  # the committed workspace, checked out in another folder
    shutil.copytree(workspace, moved)
    monkeypatch.chdir(moved)
    record = moved / "backbone.yaml"
    first, *rest = record.read_text().splitlines()
    assert first.startswith("# yaml-language-server: $schema=")
    other_clone = "# yaml-language-server: $schema=../../clones/otxgen/schemas/mmdet/RegNet.json"
    record.write_bytes("\r\n".join([other_clone, *rest, ""]).encode())
    before = tree(moved)
    checked = invoke("build", "--backbone", "mmdet.RegNet", "--check")
    assert checked.exit_code == 0, checked.output
    assert f"[*] Up to date: {record}" in checked.stderr
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    assert tree(moved) == before
    assert invoke("build", "--backbone", "mmdet.ResNet", "--check").exit_code == 1


def test_no_backbone_yaml_writes_none(workspace: Path) -> None:
    other = workspace.parent / "other" / "m.py"
    other.parent.mkdir()
    shutil.copy(TEMPLATE_MODEL, other)
    args = ("build", "--backbone", "mmdet.RegNet", "--model", str(other), "--no-smoke", "--no-backbone-yaml")
    assert invoke(*args).exit_code == 0
    assert sorted(p.name for p in other.parent.iterdir()) == ["m.py"]
    assert "type='RegNet'" in other.read_text()
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke", "--no-backbone-yaml").exit_code == 0
    assert not (workspace / "backbone.yaml").exists()


def test_several_models_leave_no_backbone_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for relative in ("a/one.py", "a/two.py", "b/three.py"):
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        shutil.copy(TEMPLATE_MODEL, tmp_path / relative)
    args = ["--model", "a/one.py", "--model", "a/two.py", "--model", "b/three.py"]
    assert invoke("build", "--backbone", "mmdet.RegNet", *args, "--no-smoke").exit_code == 0
    assert list(tmp_path.rglob("backbone.yaml")) == []
    assert all("type='RegNet'" in (tmp_path / r).read_text() for r in ("a/one.py", "a/two.py", "b/three.py"))


# -- --diff, then patch ---------------------------------------------------------------------------


def patch(patch_file: Path, *args: str, cwd: Path) -> None:
    done = subprocess.run(
        [str(PATCH), "-s", "-p1", *args, "-i", str(patch_file)], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(PATCH is None, reason="no patch program")
@pytest.mark.parametrize("ending", ["\n", "\r\n", "no-final-newline"])
def test_the_diff_is_what_the_build_writes_and_patch_r_undoes_it(workspace: Path, ending: str) -> None:
    model = workspace / "model.py"
    text = model.read_text()
    model.write_bytes((text.rstrip("\n") if ending == "no-final-newline" else text.replace("\n", ending)).encode())
    before = tree(workspace)
    diff = invoke("build", "--backbone", "mmdet.RegNet", "--diff")
    assert diff.exit_code == 0, diff.output
    assert tree(workspace) == before  # --diff writes nothing
    (workspace.parent / "swap.patch").write_bytes(diff.stdout_bytes)  # .stdout would turn CRLF into LF
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    built = tree(workspace)
    assert set(built) == {*before, "backbone.yaml", SCHEMA_COPY}
    copy = built.pop(SCHEMA_COPY)  # otxgen's file, not the user's config: no diff shows it
    assert copy == (ROOT / "schemas" / "mmdet" / "RegNet.json").read_bytes()
    (workspace / SCHEMA_COPY).unlink()
    if ending == "\r\n":  # the lines the rewrite added end like the file's own
        assert built["model.py"].count(b"\n") == built["model.py"].count(b"\r\n")
    if ending == "no-final-newline":
        assert not built["model.py"].endswith(b"\n")
    patch(workspace.parent / "swap.patch", "-R", cwd=workspace)
    assert tree(workspace) == before  # every file back byte for byte, backbone.yaml gone again
    patch(workspace.parent / "swap.patch", cwd=workspace)
    assert tree(workspace) == built  # and forward again: the diff is exactly what the build wrote


@pytest.mark.skipif(PATCH is None, reason="no patch program")
def test_files_outside_the_current_folder_are_named_from_a_common_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``patch`` refuses absolute paths and ``..``: the diff's paths start at the nearest folder above
    the current one and every file, and the build says how to apply it from here."""
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    for folder in (here, elsewhere):
        folder.mkdir()
        shutil.copy(TEMPLATE_MODEL, folder / "m.py")
    monkeypatch.chdir(here)
    before = tree(tmp_path)
    models = ["--model", "m.py", "--model", str(elsewhere / "m.py")]
    diff = invoke("build", "--backbone", "mmdet.RegNet", *models, "--diff")
    assert diff.exit_code == 0, diff.output
    assert "--- a/elsewhere/m.py\n+++ b/elsewhere/m.py\n" in diff.stdout
    assert "backbone.yaml" not in diff.stdout  # --model records no backbone.yaml
    assert f"patch -p1 -d {tmp_path.resolve()}" in diff.stderr
    (tmp_path / "swap.patch").write_bytes(diff.stdout_bytes)
    assert invoke("build", "--backbone", "mmdet.RegNet", *models, "--no-smoke").exit_code == 0
    patch(tmp_path / "swap.patch", "-R", "-d", str(tmp_path.resolve()), cwd=here)
    assert tree(tmp_path) == {**before, "swap.patch": (tmp_path / "swap.patch").read_bytes()}


def test_a_diff_for_a_backbone_that_needs_input_shows_the_skeleton_and_says_nothing_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a detection workspace: the segmentation template's model is an HRNet, whose extra the build would keep
    assert invoke("build", "--task", "detection", "--workspace", str(tmp_path / "ws")).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws")
    before = tree(tmp_path / "ws")
    result = invoke("build", "--backbone", "mmseg.HRNet", "--diff")
    assert result.exit_code == 1
    assert result.stdout.startswith("--- /dev/null\n+++ b/backbone.yaml\n")
    assert "+# 'extra' must be filled in; an example from the schema:\n" in result.stdout
    assert "Edit backbone.yaml" not in result.stderr  # there is none to edit
    assert "[!] Run without --diff/--check to write backbone.yaml, edit it, then build from it." in result.stderr
    assert tree(tmp_path / "ws") == before


# -- signals, killed processes, owners ----------------------------------------------------------

# Runs otxgen with every fsync of a temp file slowed down, and says (a flag file) when the first one
# starts: a signal sent then arrives in the middle of a write.
DRIVER = """
import os, sys, time
flag, real = sys.argv[1], os.fsync
def slow(fd):
    if not os.path.exists(flag):
        open(flag, "w").close()
        time.sleep(2)
    real(fd)
os.fsync = slow
from otxgen.cli import main
sys.argv = ["otxgen", *sys.argv[2:]]
main()
"""


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".otxgen-tmp"))


def interrupted_build(workspace: Path, signum: int) -> int:
    """The exit status of a build that gets ``signum`` while it writes its first temp file."""
    flag = workspace.parent / "writing"
    command = [sys.executable, "-c", DRIVER, str(flag), "build", "--backbone", "mmdet.RegNet", "--no-smoke"]
    child = subprocess.Popen(
        command, cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=as_from_a_terminal
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flag.exists(), "the build never reached its write"
    child.send_signal(signum)
    return child.wait(timeout=120)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_during_the_write_waits_for_it_and_leaves_no_temp_file(workspace: Path, signum: int) -> None:
    """The signal is held until every file is renamed: the build's files are all new, none is half
    written, no temp file stays; then the process stops as asked."""
    before = tree(workspace)
    status = interrupted_build(workspace, signum)
    assert status == (1 if signum == signal.SIGINT else -signum)  # SIGINT: click's "Aborted!"
    assert temp_files(workspace) == []
    after = tree(workspace)
    assert set(after) == {*before, "backbone.yaml", SCHEMA_COPY} and after["model.py"] != before["model.py"]
    assert invoke("build", "--backbone", "mmdet.RegNet", "--check").exit_code == 0  # complete, consistent


@pytest.mark.parametrize("edited", ["model.py", "backbone.yaml"])
def test_an_edit_made_while_a_build_plans_is_kept_and_nothing_is_written(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, edited: str
) -> None:
    """The lock keeps other otxgen processes out, not an editor: a file changed (or created) after the
    build read it is compared just before the write; the build then writes nothing and exits 2."""
    import otxgen.app.build as build

    assert invoke("build", "--backbone", "mmdet.ResNet", "--no-smoke").exit_code == 0
    real = build.rewrite_config

    def edit_meanwhile(path: Path, *args: object, **kwargs: object) -> object:
        rewrite = real(path, *args, **kwargs)  # type: ignore[arg-type]
        with (workspace / edited).open("a") as handle:
            handle.write("# typed while the build planned\n")
        return rewrite

    monkeypatch.setattr(build, "rewrite_config", edit_meanwhile)
    before = tree(workspace)
    result = invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke")
    assert result.exit_code == 2, result.output
    assert f"{edited}: changed while otxgen was working on it; nothing was written" in result.stderr
    after = tree(workspace)
    assert after[edited] == before[edited] + b"# typed while the build planned\n"
    assert {k: v for k, v in after.items() if k != edited} == {k: v for k, v in before.items() if k != edited}
    assert temp_files(workspace) == []


def test_sigkill_can_leave_a_temp_file_which_the_next_write_there_removes(workspace: Path) -> None:
    before = tree(workspace)
    assert interrupted_build(workspace, signal.SIGKILL) == -signal.SIGKILL
    left = temp_files(workspace)
    assert len(left) == 1 and left[0].startswith(".backbone.yaml.")  # what the README says SIGKILL may leave
    assert {name: data for name, data in tree(workspace).items() if name in before} == before  # originals intact
    (workspace / "notes.otxgen-tmp").write_text("not ours: no random part\n")
    assert invoke("build", "--backbone", "mmdet.RegNet", "--diff").exit_code == 0
    assert temp_files(workspace) == [left[0], "notes.otxgen-tmp"]  # --diff writes (and removes) nothing
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    assert temp_files(workspace) == ["notes.otxgen-tmp"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (to own files as another)")
def test_a_build_run_as_root_keeps_each_files_owner_and_mode(workspace: Path) -> None:
    model = workspace / "model.py"
    os.chown(workspace, 4321, 4321)
    os.chown(model, 1234, 5678)
    model.chmod(0o640)
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    assert "type='RegNet'" in model.read_text()
    kept = model.stat()
    assert (kept.st_uid, kept.st_gid, stat.S_IMODE(kept.st_mode)) == (1234, 5678, 0o640)
    created = (workspace / "backbone.yaml").stat()
    assert (created.st_uid, created.st_gid) == (4321, 4321)  # a new file: its folder's owner


def test_a_file_with_old_mac_line_endings_keeps_every_cr(workspace: Path) -> None:
    model = workspace / "model.py"
    model.write_bytes(model.read_bytes().replace(b"\n", b"\r"))
    assert invoke("build", "--backbone", "mmdet.RegNet", "--no-smoke").exit_code == 0
    data = model.read_bytes()
    assert b"\n" not in data and data.endswith(b")\r") and b"type='RegNet',\r" in data
    assert invoke("build", "--backbone", "mmdet.RegNet", "--check").exit_code == 0


def test_the_backbone_yaml_to_edit_is_named_where_it_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A required argument without options stops at the backbone.yaml written for the user to fill in:
    with ``--backbone-yaml PATH`` the line names that file, not ``backbone.yaml`` (a hostile pass)."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model.py"
    model.write_text(
        "model = dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18),\n"
        "             decode_head=dict(type='FCNHead', in_channels=512, channels=64, num_classes=2))\n"
        "default_scope = 'mmseg'\n"
    )
    args = ["build", "--backbone", "mmseg.HRNet", "--model", "model.py", "--backbone-yaml", "by.yaml", "--no-smoke"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "[!] Edit by.yaml and run 'otxgen build --backbone by.yaml'." in result.stderr
    assert (tmp_path / "by.yaml").is_file()
