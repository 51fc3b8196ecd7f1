"""``make bench``: run every benchmark script and print one table of headline figures.

Each script runs in its own process (whole-process medians of at least 5 runs each, as the scripts
document) and prints its detailed table, which is passed through; the ``BENCHROW`` lines it prints
are gathered here into the summary: figure, otxgen, baseline, ratio, target, verdict, plus a line
describing the machine.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _common import ROW_PREFIX

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_validate.py", "bench_codemods.py", "bench_shapes.py", "bench_export.py", "bench_lsp.py")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{memory_kib / 2**20:.0f} GiB, Python {platform.python_version()}"
    )


def run(script: str) -> tuple[list[dict[str, object]], int]:
    print(f"\n=== {script}", flush=True)
    process = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, cwd=HERE.parent)
    rows = []
    for line in process.stdout.splitlines():
        if line.startswith(ROW_PREFIX):
            rows.append(json.loads(line[len(ROW_PREFIX) :]))
        else:
            print(line)
    if process.returncode not in (0, 1):
        print(process.stderr[-2000:], file=sys.stderr)
    return rows, process.returncode


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> int:
    start = time.perf_counter()
    rows: list[dict[str, object]] = []
    worst = 0
    for script in SCRIPTS:
        found, code = run(script)
        rows += found
        worst = max(worst, code)
    print(f"\n=== summary ({time.perf_counter() - start:.0f} s) on {machine()}")
    header = ("figure", "otxgen", "baseline", "unit", "ratio", "target", "ok")
    table = [[fmt(row[k]) if k != "ok" else ("yes" if row["ok"] else "NO") for k in header] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return worst


if __name__ == "__main__":
    sys.exit(main())
