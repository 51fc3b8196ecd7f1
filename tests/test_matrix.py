"""``otxgen matrix`` on a small real matrix: both executors give the same records; a cell that hangs,
one that exhausts its memory and one that crashes are recorded as such while the others complete; a
killed run resumes with only the missing cells; the HTML page renders in headless Chromium with one
row per backbone; the committed matrix reads without torch."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from corpus.signals import as_from_a_terminal

from otxgen.cli import main
from otxgen.matrix.cells import Record
from otxgen.matrix.store import RecordStore
from otxgen.matrix.verified import load_verified, parse_verified, verified

BACKBONES = (
    "torchvision.resnet18",
    "mmdet.ResNet",
    "pytorchcv.resnet10",
    "timm.vit_tiny_patch16_224",
    "timm.convmixer_768_32",  # every level at stride 7: no pyramid of powers of two for a detector
    "mmseg.VPD",  # its class embeddings are fetched from an address: the user must enter them
)
TEMPLATES = ("detection-atss-mobilenetv2", "classification-efficientnet-b0")
CHROMIUM = Path("/usr/bin/chromium")


def _args(out: Path, *more: str, backbones: tuple[str, ...] = BACKBONES) -> list[str]:
    selection = [arg for b in backbones for arg in ("--backbone", b)]
    selection += [arg for t in TEMPLATES for arg in ("--template", t)]
    return ["matrix", *selection, "--checks", "static,build,forward", "--out", str(out), *more]


def _matrix(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _records(out: Path) -> dict[str, Record]:
    return {key: record.same_result() for key, record in RecordStore(out).load().items()}


@pytest.fixture(scope="module")
def local_run() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="otxgen-matrix-") as folder:
        out = Path(folder) / "local"
        code, _, stderr = _matrix(*_args(out, "--jobs", "2"))
        assert code == 0, stderr
        yield out


def test_a_small_matrix_records_every_cell_with_its_result(local_run: Path) -> None:
    records = {(r.backbone, r.template): r for r in RecordStore(local_run).load().values()}
    assert len(records) == len(BACKBONES) * len(TEMPLATES)
    for backbone in ("torchvision.resnet18", "mmdet.ResNet", "pytorchcv.resnet10"):
        for template in TEMPLATES:
            cell = records[(backbone, template)]
            assert (cell.outcome, cell.furthest) == ("ok", "forward"), cell
            assert cell.input_size == 64 and all(step.seconds > 0 for step in cell.steps.values())
    assert records[("mmdet.ResNet", TEMPLATES[0])].args == {"depth": 18}  # its default arch
    vit_in_fpn = records[("timm.vit_tiny_patch16_224", "detection-atss-mobilenetv2")]
    assert (vit_in_fpn.outcome, vit_in_fpn.furthest) == ("ok", "forward")  # through a pyramid neck
    stride_7 = records[("timm.convmixer_768_32", "detection-atss-mobilenetv2")]
    assert (stride_7.outcome, stride_7.furthest, stride_7.failed_check) == ("failed", None, "static")
    assert "every level at stride 7" in stride_7.reason and "otxgen-cell" not in stride_7.reason
    vit = records[("timm.vit_tiny_patch16_224", "classification-efficientnet-b0")]
    assert (vit.outcome, vit.input_size) == ("ok", 224)  # its fixed input size, not the small one
    assert records[("mmseg.VPD", TEMPLATES[0])].outcome == "needs-input"
    summary = (local_run / "summary.md").read_text()
    assert "| detection-atss-mobilenetv2 | detection | static,build,forward | 4/6 | 4/6 | 4/6 |" in summary
    assert "every level at stride 7" in summary


def test_the_summary_groups_one_failure_of_different_backbones_without_naming_one_s_figures(tmp_path: Path) -> None:
    """Two ConvMixers (768 x 32, 1536 x 20) fail the same way: one line for both, their figures blanked,
    not the first's."""
    vits = ("timm.convmixer_768_32", "timm.convmixer_1536_20")
    args = [arg for b in vits for arg in ("--backbone", b)]
    code, _, stderr = _matrix(
        "matrix",
        *args,
        "--template",
        "detection-retinanet-r50",
        "--checks",
        "static",
        "--jobs",
        "1",
        "--out",
        str(tmp_path),
    )
    assert code == 0, stderr
    line = next(row for row in (tmp_path / "summary.md").read_text().splitlines() if "every level at stride" in row)
    assert line.startswith("| 2 | static |") and "timm.convmixer_…_… gives every level at stride" in line


def test_a_second_run_computes_nothing(local_run: Path) -> None:
    before = (local_run / "records.jsonl").read_text()
    code, _, stderr = _matrix(*_args(local_run))
    assert code == 0 and "12 already recorded" in stderr and "0 to run" in stderr
    assert (local_run / "records.jsonl").read_text() == before


def test_a_fresh_folder_seeded_with_a_committed_matrix_computes_only_what_changed(
    local_run: Path, tmp_path: Path
) -> None:
    committed = local_run / "verified.json"
    code, _, stderr = _matrix(*_args(tmp_path / "seeded", "--seed", str(committed)))
    assert code == 0 and "12 taken from" in stderr and "0 to run" in stderr, stderr
    assert (tmp_path / "seeded" / "verified.json").read_text() == committed.read_text()
    seeded = {(r.backbone, r.template): r for r in RecordStore(tmp_path / "seeded").load().values()}
    for record in RecordStore(local_run).load().values():
        again = seeded[(record.backbone, record.template)]
        assert (again.key, again.outcome, again.furthest) == (record.key, record.outcome, record.furthest)
        assert again.failed_check == record.failed_check and again.worker.startswith("seed:")
    code, _, stderr = _matrix(
        *_args(tmp_path / "fixed", "--seed", str(committed), "--rerun", "mmseg", "--max-minutes", "0")
    )
    assert "10 taken from" in stderr and "2 to run" in stderr, stderr  # mmseg's cells: computed again
    assert code == 0  # they need input: recorded without running, so nothing is missing
    data = json.loads(committed.read_text())
    data["versions"]["torch"] = "0.0"  # committed under another torch: the same cells are other work
    data["templates"][TEMPLATES[1]]["fingerprint"] = "changed"
    (tmp_path / "old.json").write_text(json.dumps(data))
    code, _, stderr = _matrix(*_args(tmp_path / "old", "--seed", str(tmp_path / "old.json"), "--max-minutes", "0"))
    assert code == 1 and "0 taken from" in stderr and "12 to run" in stderr, stderr


def test_a_committed_failure_answers_the_same_cell_with_more_checks(local_run: Path, tmp_path: Path) -> None:
    """``make deploys`` asks the export too: a backbone the committed matrix saw fail (or need input) is
    not run again to fail the same way; the others are still to run. Two seeds: the first answers first."""
    committed = local_run / "verified.json"
    failed = [r for r in RecordStore(local_run).load().values() if r.outcome in ("failed", "needs-input")]
    assert len(failed) == 3  # ConvMixer in the FPN template; VPD needs input, twice
    more = ("--checks", "static,build,forward,export", "--seed", str(committed), "--seed", str(committed))
    code, _, stderr = _matrix(*_args(tmp_path, *more, "--max-minutes", "0"))
    assert code == 1 and "3 taken from" in stderr and "9 to run" in stderr, stderr
    seeded = {(r.backbone, r.template): r for r in RecordStore(tmp_path).load().values()}
    for record in failed:
        again = seeded[(record.backbone, record.template)]
        assert again.checks[-1] == "export" and again.key != record.key
        same = ("outcome", "furthest", "failed_check")
        assert [getattr(again, name) for name in same] == [getattr(record, name) for name in same]
        assert again.reason and record.reason.startswith(again.reason)  # as committed: its first 160 characters


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: [data],  # a list, not the file's mapping
        lambda data: {**data, "format": 2},
        lambda data: _one_cell(data, ["export", "ok", ""]),  # a check its template does not ask
        lambda data: _one_cell(data, ["static", "ok", ""]),  # a pass short of the last check
        lambda data: _one_cell(data, ["", "failed", None]),
        lambda data: _one_cell(data, ["", "failed"]),
    ],
)
def test_a_seed_that_is_not_a_committed_matrix_is_refused_before_anything_starts(
    damage: Any, local_run: Path, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(damage(json.loads((local_run / "verified.json").read_text()))))
    code, _, stderr = _matrix(*_args(tmp_path / "out", "--seed", str(seed), "--max-minutes", "0"))
    assert code == 2 and "not a committed matrix" in stderr, stderr
    assert not (tmp_path / "out").exists()


def _one_cell(data: dict[str, Any], cell: list[Any]) -> dict[str, Any]:
    backbone = next(iter(data["cells"]))
    template = next(iter(data["cells"][backbone]))
    return {**data, "cells": {**data["cells"], backbone: {template: cell}}}


def test_rerun_computes_the_selected_recorded_cells_again(local_run: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(local_run, tmp_path / "out")
    failed = [r for r in RecordStore(local_run).load().values() if r.outcome == "failed"]
    assert failed  # ConvMixer in the FPN template
    code, _, stderr = _matrix(*_args(tmp_path / "out", "--rerun", "failed", "--rerun", "mmseg"))
    assert code == 0 and f"{len(failed) + len(TEMPLATES)} to run" in stderr, stderr
    assert _records(tmp_path / "out") == _records(local_run)
    lines = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(BACKBONES) * len(TEMPLATES) + len(failed) + len(TEMPLATES)
    assert _matrix(*_args(tmp_path / "out", "--rerun", "mmfoo"))[0] == 2


def test_ray_gives_the_same_records_as_the_local_pool(local_run: Path, tmp_path: Path) -> None:
    code, _, stderr = _matrix(*_args(tmp_path, "--executor", "ray", "--jobs", "2"))
    assert code == 0, stderr
    assert "on 2 ray workers" in stderr
    assert _records(tmp_path) == _records(local_run)
    nodes = {record.node for record in RecordStore(tmp_path).load().values() if record.outcome != "needs-input"}
    assert len(nodes) == 1 and nodes.pop().startswith("127.0.0.1/"), "a local cluster on the loopback address only"


def test_without_ray_the_ray_executor_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the [cluster] extra sees
    code, _, stderr = _matrix(*_args(tmp_path, "--executor", "ray"))
    assert code == 2 and "[cluster] extra" in stderr


def test_bad_checks_and_templates_are_usage_errors(tmp_path: Path) -> None:
    assert _matrix(*_args(tmp_path, "--checks", "static,fly"))[0] == 2
    code, _, stderr = _matrix("matrix", "--template", "detection-atss", "--out", str(tmp_path))
    assert code == 2 and "detection-atss-mobilenetv2" in stderr


def test_a_hang_an_exhausted_memory_and_a_crash_are_recorded_while_the_rest_complete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    faults = {
        "hang": "torchvision.resnet18@detection-atss-mobilenetv2",
        "oom": "pytorchcv.resnet10@classification-efficientnet-b0",
        "crash": "mmdet.ResNet@detection-atss-mobilenetv2",
    }
    monkeypatch.setenv("OTXGEN_MATRIX_FAULTS", ",".join(f"{kind}:{cell}" for kind, cell in faults.items()))
    backbones = ("torchvision.resnet18", "mmdet.ResNet", "pytorchcv.resnet10")
    limits = ("--time-limit", "8", "--memory-limit", "0.5", "--jobs", "2")
    code, _, stderr = _matrix(*_args(tmp_path, *limits, backbones=backbones))
    assert code == 0, stderr
    records = {f"{r.backbone}@{r.template}": r for r in RecordStore(tmp_path).load().values()}
    assert len(records) == 6
    hang, oom, crash = (records[faults[kind]] for kind in ("hang", "oom", "crash"))
    assert hang.outcome == "hang" and "no result after 8 s" in hang.reason and hang.furthest == "static"
    assert 8 <= hang.seconds < 30
    assert oom.outcome == "out-of-memory" and oom.furthest == "static", oom
    assert crash.outcome == "crash" and "SIGABRT" in crash.reason and crash.furthest == "static"
    others = [r for cell, r in records.items() if cell not in faults.values()]
    assert len(others) == 3 and all(r.outcome == "ok" and r.furthest == "forward" for r in others)


def test_a_memory_error_in_the_float32_smoke_is_tried_again_in_bfloat16(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Python's MemoryError (an allocation of Python's own that meets the cap first) is torch's allocator
    error for the retry: the cell tries bfloat16 and records it, whichever ran out (it was left out of
    the record when Python's did, as the full suite's memory happened to lay it out)."""
    from otxgen.app import cell as cells
    from otxgen.matrix.cells import Cell

    tried = []

    def out_of_memory(*_: object, backbone_dtype: str = "float32", **__: object) -> None:
        tried.append(backbone_dtype)
        raise MemoryError

    monkeypatch.setattr("otxgen.smoke.run.run_smoke", out_of_memory)
    template = "classification-efficientnet-b0"
    cell = Cell("timm.vit_base_patch16_224", {}, template, "classification", ("static", "build"))
    _, steps, dtype = cells.smoke_checks(cell, tmp_path / "model.py")
    assert tried == ["float32", "bfloat16"] and dtype == "bfloat16"
    assert "MemoryError" in steps["build"].reason


@pytest.mark.parametrize(
    ("limit", "outcome", "dtype"), [("1.5", "ok", ""), ("0.3", "ok", "bfloat16"), ("0.1", "out-of-memory", "bfloat16")]
)
def test_a_backbone_whose_float32_weights_exceed_the_memory_limit_is_built_in_bfloat16(
    tmp_path: Path, limit: str, outcome: str, dtype: str
) -> None:
    """ViT-B's weights take 344 MB in float32 and 172 MB in bfloat16: under a cell limit of 0.3 GiB the
    float32 build runs out of memory and the cell builds the backbone again in bfloat16 (the rest of the
    model in float32) and runs it; with room it stays float32; with room for neither it is out of memory
    in bfloat16 too."""
    args = ["matrix", "--backbone", "timm.vit_base_patch16_224", "--template", "classification-efficientnet-b0"]
    args += ["--checks", "static,build,forward", "--memory-limit", limit, "--jobs", "1", "--out", str(tmp_path)]
    code, _, stderr = _matrix(*args)
    assert code == 0, stderr
    (record,) = RecordStore(tmp_path).load().values()
    assert (record.outcome, record.backbone_dtype) == (outcome, dtype), f"{record.steps}: {record.reason}"
    assert record.furthest == ("forward" if outcome == "ok" else "static")
    said = "1 backbones passed with the backbone in bfloat16" in (tmp_path / "summary.md").read_text()
    assert said == (outcome == "ok" and dtype == "bfloat16")


def test_a_killed_run_resumes_with_the_missing_cells_only(tmp_path: Path) -> None:
    backbones = ("torchvision.resnet18", "mmdet.ResNet", "pytorchcv.resnet10", "mmpretrain.MobileNetV2")
    command = [sys.executable, "-m", "otxgen.cli", *_args(tmp_path, "--jobs", "1", backbones=backbones)]
    run = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    records = tmp_path / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if records.is_file() and records.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    first = RecordStore(tmp_path).load()
    assert 2 <= len(first) < 8
    with records.open("ab") as torn:  # a write the kill cut in half
        torn.write(b'{"key": "0123')
    code, _, stderr = _matrix(*_args(tmp_path, "--jobs", "1", backbones=backbones))
    assert code == 0, stderr
    assert f"{len(first)} already recorded" in stderr and f"{8 - len(first)} to run" in stderr
    lines = records.read_text().splitlines()
    assert len(lines) == 8 and len({json.loads(line)["key"] for line in lines}) == 8
    final = RecordStore(tmp_path).load()
    assert all(final[key] == record for key, record in first.items()), "finished cells are not run again"
    assert all(record.outcome == "ok" for record in final.values())


def test_ctrl_c_stops_the_run_keeping_its_records_and_no_false_crash(tmp_path: Path) -> None:
    backbones = ("torchvision.resnet18", "mmdet.ResNet", "pytorchcv.resnet10")
    command = [sys.executable, "-m", "otxgen.cli", *_args(tmp_path, "--jobs", "1", backbones=backbones)]
    run = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    records = tmp_path / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (records.is_file() and records.read_text().count("\n") >= 1):
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal sends to the whole process group
    assert run.wait(timeout=60) != 0
    done = RecordStore(tmp_path).load()
    assert done and all(record.outcome == "ok" for record in done.values()), "an interrupted cell is not a crash"
    report = json.loads((tmp_path / "matrix.json").read_text())
    assert len(report["cells"]) == len(done) and len(report["missing"]) == 6 - len(done)


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_html_page_shows_the_heatmap_in_headless_chromium(local_run: Path, tmp_path: Path) -> None:
    assert CHROMIUM.is_file(), "tools/setup-env.sh installs chromium"
    page = (local_run / "matrix.html").resolve()
    assert "http" not in page.read_text(), "self-contained: nothing to fetch"
    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    assert dom.count('<tr class="row"') == len(BACKBONES)
    assert f"{len(BACKBONES)} rows shown" in dom, "the page's script ran"
    assert dom.count('data-state="forward"') == 9 and 'title="timm.convmixer_768_32 in detection' in dom
    sliced = _chromium("--dump-dom", page.as_uri() + "?library=mmdet&task=detection", profile=tmp_path / "profile")
    assert "1 rows shown" in sliced.stdout, "the library filter"
    classification = re.findall(r'<t[hd][^>]*data-task="classification"[^>]*>', sliced.stdout)
    assert len(classification) == 2 + len(BACKBONES), "its header, its count and one cell a backbone"
    assert all(" hidden" in tag for tag in classification), "the task filter hides the classification column"
    assert not any(" hidden" in tag for tag in re.findall(r'<t[hd][^>]*data-task="detection"[^>]*>', sliced.stdout))
    shot = tmp_path / "matrix.png"
    _chromium(f"--screenshot={shot}", "--window-size=1000,700", page.as_uri(), profile=tmp_path / "profile")
    from PIL import Image

    with Image.open(shot) as image:
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert len(colours) > 20, "not a blank page"
    assert (0xA6, 0xD9, 0x6A) in colours and (0xD7, 0x30, 0x27) in colours, "forward-green and failed-red cells"


def test_verified_json_of_a_run_reads_back(local_run: Path) -> None:
    matrix = parse_verified(json.loads((local_run / "verified.json").read_text()))
    cell = matrix.cells[("torchvision.resnet18", "detection-atss-mobilenetv2")]
    assert cell.passed and cell.label == "✓ forward" and cell.task == "detection"
    failed = matrix.cells[("timm.convmixer_768_32", "detection-atss-mobilenetv2")]
    assert not failed.passed and failed.label == "✗ static" and "stride 7" in failed.reason
    assert matrix.cells[("mmseg.VPD", "classification-efficientnet-b0")].label == "needs input"
    assert matrix.default_template("classification") == "classification-efficientnet-b0"


def test_the_committed_matrix_is_read_without_torch() -> None:
    code = (
        "import sys\nfrom otxgen.matrix.verified import verified\n"
        "cells = verified('detection')\n"
        "assert 'torch' not in sys.modules\n"
        "print(len(cells), sum(c.passed for c in cells.values()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, passed = map(int, done.stdout.split())
    assert count >= 100 and 0 < passed <= count
    matrix = load_verified()
    assert len(matrix.templates) == 7 and matrix.default_template("detection") == "detection-atss-mobilenetv2"
    detection = verified("detection")
    assert detection["mmdet.ResNet"].checks == ("static", "build", "forward")
    assert verified("detection", "detection-retinanet-r50")["mmdet.ResNet"].checks == ("static",)


def test_the_plan_keys_cells_by_arguments_template_checks_and_versions() -> None:
    from dataclasses import replace

    from otxgen.matrix.cells import with_prerequisites
    from otxgen.matrix.plan import plan_cells

    assert with_prerequisites(("export",)) == ("static", "build", "forward", "export")
    cells = plan_cells(("mmdet.ResNet",), ("detection-atss-mobilenetv2",), ("static", "build"), all_options=True)
    assert [cell.args["depth"] for cell in cells] == [18, 34, 50, 101, 152]
    assert [cell.default_arch for cell in cells] == [True, False, False, False, False]
    assert cells[0].arch == "mmdet.ResNet" and cells[1].arch == "mmdet.ResNet depth=34"
    assert len({cell.key for cell in cells}) == 5
    first = cells[0]
    assert first.versions.keys() == {"otxgen", "torch", "mmdet", "template"}
    newer = replace(first, versions={**first.versions, "torch": "9.9"})
    assert newer.key != first.key and replace(first).key == first.key
    assert replace(first, checks=("static",)).key != first.key
    libraries = {
        cell.library
        for cell in plan_cells(("pytorchcv", "timm.resnet18"), ("segmentation-hrnet18-fcn",), ("static",), False)
    }
    assert libraries == {"pytorchcv", "timm"}


def test_a_worker_without_the_mm_stack_exits_2_like_a_missing_extra_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cause (the [mm] extra cannot be imported) gives the same exit code, whether it is this
    process that lacks it or the worker it starts: a torch that cannot be imported, for the worker only."""
    fake = tmp_path / "shadow" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    code, _, stderr = _matrix(*_args(tmp_path / "out", backbones=("torchvision.resnet18",)), "--checks", "build")
    assert code == 2, stderr
    assert "a matrix worker did not start" in stderr and "torch is not installed here" in stderr


def test_the_page_colours_a_deployed_cell(tmp_path: Path) -> None:
    """The export check asked (``make deploys``): a backbone that exports, compiles and matches PyTorch
    is its own colour on the page, the darkest green."""
    template = "classification-efficientnet-b0:static,build,forward,export"
    code, _, stderr = _matrix(
        "matrix", "--backbone", "torchvision.resnet18", "--template", template, "--out", str(tmp_path)
    )
    assert code == 0, stderr
    record = next(iter(RecordStore(tmp_path).load().values()))
    assert (record.outcome, record.furthest) == ("ok", "export")
    page = (tmp_path / "matrix.html").resolve()
    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    assert dom.count('data-state="export"') == 1
    shot = tmp_path / "matrix.png"
    _chromium(f"--screenshot={shot}", "--window-size=1000,700", page.as_uri(), profile=tmp_path / "profile")
    from PIL import Image

    with Image.open(shot) as image:
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert (0x1A, 0x98, 0x50) in colours, "export-green"
