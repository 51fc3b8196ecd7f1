"""Shared by the benchmark scripts: whole-process timing and the rows ``run_all.py`` collects.

Each script prints its own detailed table, then one ``BENCHROW {json}`` line per headline figure
(``figure``, ``otxgen``, ``baseline``, ``unit``, ``ratio``, ``target``, ``ok``), which
``benchmarks/run_all.py`` gathers into one table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass

ROW_PREFIX = "BENCHROW "


@dataclass(frozen=True)
class Measure:
    median_s: float
    min_s: float
    peak_mib: float
    exit_code: int


def run_once(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB, exit code of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def measure(command: list[str], runs: int) -> Measure:
    """Median (and min) wall time of ``runs`` whole-process runs after one warm-up."""
    run_once(command)  # warm-up: file system cache, .pyc files
    samples = [run_once(command) for _ in range(runs)]
    times = [s[0] for s in samples]
    return Measure(statistics.median(times), min(times), max(s[1] for s in samples), samples[-1][2])


def measure_side_by_side(commands: list[list[str]], runs: int) -> list[Measure]:
    """``measure`` of each command, their runs taken in turn (one of each, ``runs`` times), so that a
    machine whose speed drifts during the benchmark slows them alike."""
    for command in commands:
        run_once(command)  # warm-up
    samples: list[list[tuple[float, float, int]]] = [[] for _ in commands]
    for _ in range(runs):
        for taken, command in zip(samples, commands, strict=True):
            taken.append(run_once(command))
    return [
        Measure(
            statistics.median(s[0] for s in taken),
            min(s[0] for s in taken),
            max(s[1] for s in taken),
            taken[-1][2],
        )
        for taken in samples
    ]


def emit_row(figure: str, otxgen: float, baseline: float | None, unit: str, target: str, ok: bool) -> None:
    """One headline figure for ``run_all.py``; ``ratio`` is otxgen / baseline."""
    ratio = otxgen / baseline if baseline else None
    row = {
        "figure": figure,
        "otxgen": otxgen,
        "baseline": baseline,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "ok": ok,
    }
    print(ROW_PREFIX + json.dumps(row), flush=True)
