"""``otxgen matrix`` throughput: cells per minute with 1 and 2 local workers and through a local Ray
cluster, on the committed matrix's cell mix (static + build + forward in the 4 default templates,
static alone in the other 3) for a seeded random sample of listed backbones; then the wall time of
the whole committed matrix on N machines, on paper, from those rates.

    python benchmarks/bench_matrix.py [--backbones 8] [--seed 14] [--machines 1 4 16]

Each configuration runs in a fresh output folder (nothing cached) and in its own process; its time
includes starting the workers (about 5 s each: torch and the libraries are imported once a worker).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = (
    "classification-efficientnet-b0",
    "detection-atss-mobilenetv2",
    "instance-segmentation-maskrcnn-r50",
    "segmentation-hrnet18-fcn",
    "classification-mobilenetv3-large:static",
    "detection-retinanet-r50:static",
    "segmentation-lraspp-mobilenetv3:static",
)
CONFIGURATIONS = (("local", 1), ("local", 2), ("ray", 2))
RATE = re.compile(r"(\d+) cells in (\d+) s on (\d+) (\w+) workers")


def sample(count: int, seed: int) -> list[str]:
    index = json.loads((REPO / "schemas" / "index.json").read_text())
    runnable = sorted(b["type"] for b in index["backbones"] if all(b["required_args"].values()))
    return random.Random(seed).sample(runnable, count)


def run(executor: str, jobs: int, backbones: list[str]) -> tuple[int, float]:
    """Cells run and wall seconds of one whole ``otxgen matrix`` process."""
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as out:
        command = [sys.executable, "-m", "otxgen.cli", "matrix", "--checks", "static,build,forward"]
        command += [arg for b in backbones for arg in ("--backbone", b)]
        command += [arg for t in TEMPLATES for arg in ("--template", t)]
        command += ["--executor", executor, "--jobs", str(jobs), "--time-limit", "120", "--out", out]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    found = RATE.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{executor} x{jobs} failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1)), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", type=int, default=8)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--machines", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--total-cells", type=int, default=13181, help="the committed matrix's cells")
    args = parser.parse_args()
    backbones = sample(args.backbones, args.seed)
    print(f"backbones: {', '.join(backbones)} x {len(TEMPLATES)} templates")
    print("| executor | workers | cells | wall (s) | cells/min |")
    print("|---|---|---|---|---|")
    rates = {}
    for executor, jobs in CONFIGURATIONS:
        cells, wall = run(executor, jobs, backbones)
        rates[(executor, jobs)] = cells / wall * 60
        print(f"| {executor} | {jobs} | {cells} | {wall:.1f} | {rates[(executor, jobs)]:.1f} |", flush=True)
    per_worker = rates[("local", 1)]
    print(f"\nthe committed matrix ({args.total_cells} cells), N machines x W workers at {per_worker:.1f} cells/min:")
    print("| machines | workers each | hours |")
    print("|---|---|---|")
    for machines in args.machines:
        for workers in (1, 2, 16):
            print(f"| {machines} | {workers} | {args.total_cells / (per_worker * machines * workers) / 60:.2f} |")


if __name__ == "__main__":
    main()
