"""``otxgen matrix``: plan the cells (backbones x templates), run those not already recorded in the
output folder (local worker processes, or Ray), then write ``matrix.json``, ``summary.md``,
``matrix.html`` and ``verified.json`` (the compact form ``make matrix`` commits) from the records.

Every finished cell is appended to ``records.jsonl`` at once, so a run that is stopped or killed
resumes where it stopped. Failures of cells are results (exit 0); exit 1 when cells are still
missing (``--max-minutes`` stopped the run), 2 for bad options or a missing extra.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from otxgen import fsio
from otxgen.app import Outcome, Say
from otxgen.errors import InputError, MissingExtraError, UsageError
from otxgen.matrix.cells import OUTCOMES, Cell, Record, record_of
from otxgen.matrix.executors import RunReport
from otxgen.matrix.plan import (
    DISTRIBUTIONS,
    choose_backbones,
    choose_templates,
    installed_version,
    parse_checks,
    plan_cells,
    template_fingerprint,
)
from otxgen.matrix.report import Column, Matrix, heatmap_html, matrix_json, matrix_of, summary_markdown
from otxgen.matrix.slot import Limits
from otxgen.matrix.store import RecordStore, dump_json
from otxgen.matrix.verified import VERIFIED_FILE, VerifiedMatrix, parse_verified, render_verified, seed_record
from otxgen.matrix.worker import GPUS_VARIABLE
from otxgen.options import MatrixOptions

CELL_FUNCTION = "otxgen.app.cell:run_cell"  # what each worker runs a cell with

COMPACT_REASON = 160  # characters of a reason in verified.json


def matrix(options: MatrixOptions, say: Say) -> Outcome:
    checks = parse_checks(",".join(options.checks))
    columns = tuple(
        Column(c.template.id, c.template.task, c.template.default, c.checks)
        for c in choose_templates(options.templates, checks)
    )
    cells = plan_cells(options.backbones, options.templates, checks, options.all_options)
    _require_stack(options, columns)
    committed = [(path, _committed(path)) for path in dict.fromkeys(options.seed)]  # before any folder
    folder = _output_folder(options.out)
    with fsio.folder_lock(folder):
        store = RecordStore(folder)
        records = store.load()
        seeded = _seeded(committed, [c for c in cells if c.key not in records])
        rerun = _rerun(options.rerun, cells, {**seeded, **records})
        seeded = {key: record for key, record in seeded.items() if key not in rerun}
        for record in seeded.values():  # in the records as if computed here
            store.append(record)
        records.update(seeded)
        todo = [cell for cell in cells if cell.key not in records or cell.key in rerun]
        recorded = len(cells) - len(todo) - len(seeded)
        sources = ", ".join(str(path) for path, _ in committed)
        seeds = f" {len(seeded)} taken from {sources}," if options.seed else ""
        say(f"[*] {len(cells)} cells: {recorded} already recorded in {folder},{seeds} {len(todo)} to run")
        try:
            _run(options, todo, records, store, say)
        finally:
            table = matrix_of(cells, dict(records), columns)  # a copy: after Ctrl-C a worker thread may still add
            _write_outputs(folder, table, cells)
    say(f"[*] Wrote {', '.join(str(folder / name) for name in OUTPUTS)}")
    if table.missing:
        say(f"[!] {table.missing} cells are missing (the run stopped before them); run again to compute them")
    return Outcome(summary_markdown(table), 1 if table.missing else 0)


OUTPUTS = ("matrix.json", "summary.md", "matrix.html", VERIFIED_FILE)


def _rerun(selectors: tuple[str, ...], cells: list[Cell], records: dict[str, Record]) -> set[str]:
    """The keys of the recorded cells that ``--rerun`` selects: by outcome (``failed``, ``hang``...),
    library or type (as ``--backbone`` takes them)."""
    if not selectors:
        return set()
    outcomes = {s for s in selectors if s in OUTCOMES}
    backbones = tuple(s for s in selectors if s not in outcomes)
    types = {entry["type"] for entry in choose_backbones(backbones)} if backbones else set()
    return {
        cell.key
        for cell in cells
        if cell.key in records and (cell.backbone in types or records[cell.key].outcome in outcomes)
    }


def _committed(path: Path) -> VerifiedMatrix:
    """A committed matrix given to ``--seed``, read and checked whole: a file that is not one is exit 2."""
    try:
        matrix = parse_verified(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise InputError(f"cannot read the seed: {error.strerror or error}", str(path)) from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise InputError(f"not a committed matrix ({type(error).__name__}: {error})", str(path)) from None
    return matrix


def _seeded(committed: list[tuple[Path, VerifiedMatrix]], cells: list[Cell]) -> dict[str, Record]:
    """The records of the cells that the committed matrices (the first that answers a cell first) hold
    as the same work, or whose result they imply (marked ``seed:`` in their worker). A committed hang or
    out-of-memory is taken as it was found, under that run's limits (``--rerun hang`` computes it again)."""
    seeded: dict[str, Record] = {}
    for path, matrix in committed:
        found = ((cell.key, seed_record(matrix, cell, path.name)) for cell in cells if cell.key not in seeded)
        seeded.update({key: record for key, record in found if record is not None})
    return seeded


def _run(options: MatrixOptions, todo: list[Cell], records: dict[str, Record], store: RecordStore, say: Say) -> None:
    total, done = len(todo), [0]

    def on_record(record: Record) -> None:
        store.append(record)
        records[record.key] = record
        done[0] += 1
        say(_progress(record, done[0], total))

    for cell in [c for c in todo if c.needs_input]:  # nothing to run: the user must enter an argument
        on_record(record_of(cell, {}, "needs-input").with_reason(_needs_input_reason(cell)))
    runnable = [cell for cell in todo if not cell.needs_input]
    if not runnable or options.max_minutes == 0:  # nothing to run, or only the report asked
        return
    start = time.monotonic()
    deadline = start + options.max_minutes * 60 if options.max_minutes is not None else None
    stop = _stopper(deadline)
    report = _execute(options, runnable, on_record, stop, say)
    took = time.monotonic() - start
    ran = done[0] - (total - len(runnable))
    rate = ran / took * 60 if took else 0.0
    retried = f"; {report.retried} run again because the node running them died" if report.retried else ""
    retried += f"; {report.restarted} because their Ray worker died" if report.restarted else ""
    workers = f"{report.workers} {options.executor} workers"
    say(f"[*] {ran} cells in {took:.0f} s on {workers}: {rate:.1f} cells per minute{retried}")
    if report.stopped:
        say(f"[!] The run stopped: {report.stopped}. The cells done are recorded; the same command resumes.")


def _execute(
    options: MatrixOptions,
    cells: list[Cell],
    on_record: Callable[[Record], None],
    stop: Callable[[], bool],
    say: Say,
) -> RunReport:
    from otxgen.matrix import executors

    memory = int(options.memory_limit_gib * (1 << 30))
    # One torch thread a worker: cells are small, and a second thread on a busy core made a worker
    # three times slower here; parallelism comes from more workers instead (--jobs).
    limits = Limits(CELL_FUNCTION, options.time_limit, memory, threads=1, device=options.device)
    if options.executor == "ray":
        run = executors.run_ray
        return run(cells, limits, options.jobs, options.address, on_record, stop, options.gpu_share, say)
    gpus = visible_gpus() if options.device != "cpu" else []
    if options.device == "cuda" and not gpus:
        raise UsageError("--device cuda: no CUDA device is visible here (use --device auto or cpu)")
    jobs = max(1, min(options.jobs or len(gpus) or os.cpu_count() or 1, len(cells)))
    return executors.run_local(cells, limits, jobs, on_record, stop, gpus)


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process sees, as ``CUDA_VISIBLE_DEVICES`` names them for a worker: one
    local worker a GPU."""
    import torch

    count = torch.cuda.device_count()
    named = [name for name in os.environ.get(GPUS_VARIABLE, "").split(",") if name.strip()]
    return named[:count] if named else [str(index) for index in range(count)]


def _stopper(deadline: float | None) -> Callable[[], bool]:
    return lambda: deadline is not None and time.monotonic() >= deadline


def _progress(record: Record, number: int, total: int) -> str:
    why = f": {record.reason[:120]}" if record.reason else ""
    passed = f"furthest {record.furthest}" if record.furthest else "nothing passed"
    cell = f"{record.arch} @ {record.template}"
    return f"[{number}/{total}] {cell}: {record.outcome} ({passed}){why} [{record.seconds:.1f} s]"


def _needs_input_reason(cell: Cell) -> str:
    missing = ", ".join(name for name, value in cell.args.items() if value is None)
    return f"{missing} has no options: the user must enter it (otxgen build --backbone {cell.backbone})"


def _require_stack(options: MatrixOptions, columns: tuple[Column, ...]) -> None:
    """Fail fast (exit 2) on what no cell could do without: the [mm] stack, ray, an export runtime."""
    if options.executor not in ("local", "ray"):
        raise UsageError(f"--executor {options.executor}: use local or ray")
    if options.address and options.executor != "ray":
        raise UsageError("--address goes with --executor ray")
    if importlib.util.find_spec("torch") is None:
        raise MissingExtraError("otxgen matrix needs torch and the OpenMMLab stack (pip install 'otxgen[mm]')")
    if options.executor == "ray":
        from otxgen.matrix.executors import check_address, import_ray

        import_ray()
        check_address(options.address)
    elif options.gpu_share != 1.0:
        raise UsageError("--gpu-share goes with --executor ray (the local pool gives each worker a GPU of its own)")
    if options.gpu_share > 1 and options.gpu_share != int(options.gpu_share):
        raise UsageError(f"--gpu-share {options.gpu_share:g}: a share of more than one GPU is a whole number of them")
    if any("export" in column.checks for column in columns) and importlib.util.find_spec("openvino") is None:
        raise MissingExtraError("--checks export needs the [export] extra (openvino is not installed)")


def _output_folder(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder: {error.strerror or error}", str(out)) from None
    return out


def _write_outputs(folder: Path, table: Matrix, cells: list[Cell]) -> None:
    fsio.write_all_atomic(
        [
            (folder / "matrix.json", dump_json(matrix_json(table, cells))),
            (folder / "summary.md", summary_markdown(table)),
            (folder / "matrix.html", heatmap_html(table)),
            (folder / VERIFIED_FILE, verified_text(table)),
        ]
    )


def verified_text(table: Matrix) -> str:
    """The compact matrix: default archs only, one backbone a line."""
    rows: dict[str, dict[str, tuple[str, str, str]]] = {}
    args: dict[str, dict[str, object]] = {}
    for (_, template), record in table.records.items():
        if record.default_arch:
            reason = record.reason[:COMPACT_REASON]
            rows.setdefault(record.backbone, {})[template] = (record.furthest or "", record.outcome, reason)
            if record.args:
                args[record.backbone] = record.args
    order = {row: index for index, row in enumerate(table.rows)}
    ordered = {backbone: rows[backbone] for backbone in sorted(rows, key=lambda b: order.get(b, len(order)))}
    templates = {
        column.id: {
            "task": column.task,
            "default": column.default,
            "checks": list(column.checks),
            "fingerprint": template_fingerprint(column.id),
            "done": sum(1 for row in rows.values() if column.id in row),
            "missing": sum(1 for row in table.rows if (row, column.id) not in table.records),
        }
        for column in table.columns
    }
    versions = {name: installed_version(name) for name in ("otxgen", "torch", *DISTRIBUTIONS.values())}
    return render_verified(templates, ordered, versions, {b: args[b] for b in ordered if b in args})
