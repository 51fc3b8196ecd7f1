"""Benchmark: ``otxgen validate`` vs ``check-jsonschema`` on the same schema and files, and ``otxgen find``.

Whole-process wall time (median of ``--runs`` runs after one warm-up) and peak resident memory of
each process (``wait4``'s ``ru_maxrss``), on 1 and on 200 backbone.yaml files. check-jsonschema gets
the committed ``schemas/mmdet/ResNet.json`` wrapped as ``{"backbone": <that schema>}``, because a
backbone.yaml holds the backbone mapping under ``backbone:``.

Targets: otxgen/check-jsonschema time ratio <= 1.0 on both; peak memory <= 80 MiB;
``otxgen find --backbone mmdet`` and ``otxgen find --backbone --sort top1`` (the whole catalog) <= 0.15 s.

Large configs (a model and a tuple of class names, 0.5 / 1 / 2 / 5 MiB, 5 MiB being the input limit):
time and memory must grow linearly (the 5 MiB figure at most 12x the 0.5 MiB one, 10x being linear),
and the 5 MiB config validate in under 2 s and 200 MiB; beside each, ``ast.parse`` of the same file
alone, the floor of any reader that builds Python's syntax tree.

    python benchmarks/bench_validate.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import Measure, emit_row, measure

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "mmdet" / "ResNet.json"
BIN = Path(sys.executable).parent
DEPTHS = (18, 34, 50, 101, 152)
RATIO_TARGET, MEMORY_TARGET_MIB, FIND_TARGET_S = 1.0, 80.0, 0.15
SIZES_MIB = (0.5, 1, 2, 5)
LINEAR_TARGET, LARGE_TIME_S, LARGE_MEMORY_MIB = 12.0, 2.0, 200.0


def write_inputs(directory: Path, count: int) -> list[str]:
    files = []
    for number in range(count):
        path = directory / f"case{number:03d}" / "backbone.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        depth = DEPTHS[number % len(DEPTHS)]
        path.write_text(
            f"backbone:\n  type: mmdet.ResNet\n  depth: {depth}\n  out_indices: [0, 1, 2, 3]\n"
            "  style: pytorch\n  norm_cfg: {type: BN, requires_grad: true}\n"
        )
        files.append(str(path))
    return files


def write_large(directory: Path, mib: float) -> str:
    """A model config of about ``mib`` MiB (under the 5 MiB limit): a model and a tuple of names."""
    head = "model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18), neck=None)\n"
    count = int((mib * 2**20 - 4096) / 12)
    path = directory / f"large-{mib}.py"
    path.write_text(head + "classes = (" + ", ".join(f"'c{i:07d}'" for i in range(count)) + ")\n")
    return str(path)


def large_configs(directory: Path, rows: list[tuple[str, str, Measure, str]]) -> bool:
    """Validate time and memory on growing configs, with ``ast.parse`` alone beside each."""
    measured = {}
    for mib in SIZES_MIB:
        path = write_large(directory, mib)
        ours = measure([str(BIN / "otxgen"), "validate", path], 1)
        floor = measure([sys.executable, "-c", f"import ast; ast.parse(open({path!r}).read())"], 1)
        measured[mib] = ours
        rows.append((f"{mib} MiB", "otxgen validate", ours, ""))
        rows.append((f"{mib} MiB", "python ast.parse alone", floor, "floor of a syntax-tree reader"))
    small, large = measured[SIZES_MIB[0]], measured[SIZES_MIB[-1]]
    growth = large.median_s / small.median_s
    emit_row(
        f"validate {SIZES_MIB[-1]} MiB / {SIZES_MIB[0]} MiB config, time",
        large.median_s,
        small.median_s,
        "s",
        f"ratio <= {LINEAR_TARGET:.0f} (linear)",
        growth <= LINEAR_TARGET,
    )
    emit_row(
        f"validate {SIZES_MIB[-1]} MiB config, time",
        large.median_s,
        None,
        "s",
        f"<= {LARGE_TIME_S} s",
        large.median_s <= LARGE_TIME_S,
    )
    emit_row(
        f"validate {SIZES_MIB[-1]} MiB config, peak memory",
        large.peak_mib,
        None,
        "MiB",
        f"<= {LARGE_MEMORY_MIB:.0f} MiB",
        large.peak_mib <= LARGE_MEMORY_MIB,
    )
    return growth <= LINEAR_TARGET and large.exit_code == 0


def wrapped_schema(directory: Path) -> str:
    schema = json.loads(SCHEMA.read_text())
    inner = {key: value for key, value in schema.items() if key not in ("$schema", "$id")}
    wrapper = {
        "$schema": schema["$schema"],
        "type": "object",
        "properties": {"backbone": inner},
        "required": ["backbone"],
    }
    path = directory / "backbone-wrapper.json"
    path.write_text(json.dumps(wrapper))
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-large", action="store_true", help="skip the large-config figures (about 3 minutes)")
    args = parser.parse_args()
    rows: list[tuple[str, str, Measure, str]] = []
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        schema = wrapped_schema(Path(tmp))
        for count in (1, 200):
            files = write_inputs(Path(tmp) / f"n{count}", count)
            ours = measure([str(BIN / "otxgen"), "validate", *files], args.runs)
            theirs = measure([str(BIN / "check-jsonschema"), "--schemafile", schema, *files], args.runs)
            ratio = ours.median_s / theirs.median_s
            verdict = "ok" if ratio <= RATIO_TARGET and ours.peak_mib <= MEMORY_TARGET_MIB else "MISSED"
            failed |= verdict != "ok" or ours.exit_code != 0 or theirs.exit_code != 0
            rows.append((f"{count} file{'s' * (count > 1)}", "otxgen validate", ours, f"ratio {ratio:.2f} {verdict}"))
            rows.append((f"{count} file{'s' * (count > 1)}", "check-jsonschema", theirs, ""))
            emit_row(
                f"validate {count} file(s) vs check-jsonschema, s",
                ours.median_s,
                theirs.median_s,
                "s",
                f"ratio <= {RATIO_TARGET}",
                ratio <= RATIO_TARGET,
            )
            emit_row(
                f"validate {count} file(s) peak memory",
                ours.peak_mib,
                theirs.peak_mib,
                "MiB",
                f"<= {MEMORY_TARGET_MIB:.0f} MiB",
                ours.peak_mib <= MEMORY_TARGET_MIB,
            )
        if not args.no_large:
            failed |= not large_configs(Path(tmp), rows)
    find = measure([str(BIN / "otxgen"), "find", "--backbone", "mmdet"], args.runs)
    verdict = "ok" if find.median_s <= FIND_TARGET_S else "MISSED"
    failed |= verdict != "ok" or find.exit_code != 0
    rows.append(("index", "otxgen find --backbone mmdet", find, f"target {FIND_TARGET_S} s {verdict}"))
    catalog = measure([str(BIN / "otxgen"), "find", "--backbone", "--sort", "top1"], args.runs)
    verdict = "ok" if catalog.median_s <= FIND_TARGET_S else "MISSED"
    failed |= verdict != "ok" or catalog.exit_code != 0
    rows.append(("catalog", "otxgen find --sort top1 (all)", catalog, f"target {FIND_TARGET_S} s {verdict}"))
    stack = measure([sys.executable, "-c", "import mmdet.models"], args.runs)
    rows.append(("stack", "python -c 'import mmdet.models'", stack, "what find would cost live"))
    emit_row(
        "find --backbone mmdet vs importing mmdet.models, s",
        find.median_s,
        stack.median_s,
        "s",
        f"<= {FIND_TARGET_S} s",
        find.median_s <= FIND_TARGET_S,
    )
    print(f"{'case':<9} {'command':<29} {'median s':>9} {'min s':>7} {'peak MiB':>9} {'exit':>4}  note")
    for case, name, m, note in rows:
        print(f"{case:<9} {name:<29} {m.median_s:>9.3f} {m.min_s:>7.3f} {m.peak_mib:>9.1f} {m.exit_code:>4}  {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
