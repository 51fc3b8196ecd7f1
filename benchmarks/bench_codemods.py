"""Benchmark: otxgen's codemods vs load-and-dump with ``mmengine.Config`` (the OTX 1.x method).

The same 100 configs shipped inside the mmdet package (those defining ``model = dict(... backbone=...)``
with a neck that has ``in_channels``) get RegNet-3.2GF as their backbone, once per method:

- otxgen: what ``build --backbone mmdet.RegNet --model FILE --no-smoke`` computes for one config: its
  ``_base_`` chain read statically, the plan, the codemods over one parse, validate's check of the result;
- baseline: ``Config.fromfile``, set ``model.backbone`` (to what otxgen's result loads to), the neck's
  ``in_channels``, the old weights to None, ``pretty_text``.

Reported per method: time per file, lines changed in the unified diff against the original, comments
kept, and whether the result loads to the same config as the other method's. A config otxgen refuses
(exit 2, with its reason) is counted and left out of the comparison, never the end of the run.

Then the same swap as a whole process, side by side on one shipped config (the median of 5 runs each):
``otxgen build --backbone mmdet.RegNet --model retinanet/retinanet_r50_fpn_1x_coco.py --no-smoke
--no-backbone-yaml --diff`` against a process that runs ``Config.fromfile`` and ``pretty_text`` (what a
pre-commit hook or one swap pays), and against a process that only imports libcst and click: the floor
no swap built on them goes under (a valid backbone is checked without jsonschema). Their runs are taken
in turn. The ``BENCHROW`` lines (``_common.emit_row``) go to ``run_all.py``. Run with the [mm] extra:

    python benchmarks/bench_codemods.py [--count 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.resources
import io
import shutil
import statistics
import tempfile
import time
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codemods import _config
from codemods.errors import CodemodError
from codemods.replace_backbone import backbone_path

BACKBONE: dict[str, Any] = {"type": "RegNet", "arch": "regnetx_3.2gf", "out_indices": (0, 1, 2, 3)}
REQUESTED: dict[str, Any] = {**BACKBONE, "type": "mmdet.RegNet"}
CHANNELS = [96, 192, 432, 1008]


@dataclass
class Result:
    seconds: list[float]
    lines_changed: list[int]
    comments_total: int = 0
    comments_kept: int = 0


def defines_backbone(source: str) -> bool:
    if "custom_imports" in source:
        return False
    module = _config.parse(source)
    try:
        value = _config.resolve(module, backbone_path(module))
    except CodemodError:
        return False
    return value is not None and _config.is_dict_call(value)


def first_neck(model: Any) -> Any:
    neck = model.get("neck")
    neck = neck[0] if isinstance(neck, list) and neck else neck
    return neck if isinstance(neck, dict) and isinstance(neck.get("in_channels"), (list, tuple)) else None


def comments(source: str) -> Counter[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return Counter(token.string for token in tokens if token.type == tokenize.COMMENT)


def lines_changed(before: str, after: str) -> int:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


def codemod(path: Path, source: str) -> str:
    """What ``otxgen build --backbone mmdet.RegNet --model FILE --no-smoke`` computes: the merged view of
    the config and its bases, the plan, the codemods and validate's check of the result."""
    from otxgen.app.rewrite import rewrite_config
    from otxgen.schema.store import StoreCatalog

    catalog = StoreCatalog()
    return rewrite_config(path, REQUESTED, catalog.schema(REQUESTED["type"]), catalog, None, lambda _: None).after


def load_and_dump(path: Path, backbone: dict[str, Any]) -> str:
    """The OTX 1.x method for the same intent: load, set the values, dump."""
    from mmengine.config import Config

    config = Config.fromfile(str(path))
    config.model.backbone = backbone
    first_neck(config.model).in_channels = list(CHANNELS)
    if config.model.get("pretrained") is not None:
        config.model.pretrained = None
    if config.get("load_from") is not None:
        config.load_from = None
    return str(config.pretty_text)


def normalized(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [normalized(item) for item in value]
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    return value


def loaded(path: Path, text: str) -> object:
    """The result as mmengine loads it, or the error's text when it does not load."""
    from mmengine.config import Config

    out = path.with_name(f"bench_{path.name}")
    out.write_text(text)
    try:
        return normalized(Config.fromfile(str(out)).to_dict())
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"{path.name}: {type(error).__name__}: {str(error)[:160]}"


def _loaded_backbone(path: Path) -> dict[str, Any]:
    from mmengine.config import Config

    backbone: dict[str, Any] = Config.fromfile(str(path)).model.backbone.to_dict()
    return backbone


def has_neck(path: Path) -> bool:
    """Loads with mmengine here (``pkg::`` bases need ``pkg_resources``) and has a neck with in_channels."""
    from mmengine.config import Config

    try:
        return first_neck(Config.fromfile(str(path)).model) is not None
    except Exception:  # noqa: BLE001 - a config the baseline cannot load is not a fair comparison
        return False


def pick(root: Path, count: int) -> list[Path]:
    candidates = [path for path in sorted(root.rglob("*.py")) if defines_backbone(path.read_text())]
    spread = candidates[::3] + candidates[1::3] + candidates[2::3]
    chosen: list[Path] = []
    for path in spread:
        if len(chosen) == count:
            break
        if has_neck(path):
            chosen.append(path)
    return chosen


def measure(paths: list[Path], repeat: int) -> tuple[Result, Result, list[str], list[str]]:
    """Both methods on each config; the fourth list holds otxgen's refusals (``file: reason``)."""
    from otxgen.errors import OtxgenError

    ours, theirs, mismatches, refused = Result([], []), Result([], []), [], []
    for path in paths:
        source = path.read_text()
        timings = []
        try:
            for _ in range(repeat):
                start = time.perf_counter()
                new = codemod(path, source)
                timings.append(time.perf_counter() - start)
        except OtxgenError as error:
            refused.append(f"{path.name}: {str(error)[:160]}")
            continue
        ours.seconds.append(min(timings))
        path.write_text(new)
        backbone = _loaded_backbone(path)
        path.write_text(source)
        start = time.perf_counter()
        dumped = load_and_dump(path, backbone)
        theirs.seconds.append(time.perf_counter() - start)
        ours_loaded, theirs_loaded = loaded(path, new), loaded(path, dumped)
        if ours_loaded != theirs_loaded:
            mismatches.append(ours_loaded if isinstance(ours_loaded, str) else f"{path.name}: differs")
        original = comments(source)
        for result, text in ((ours, new), (theirs, dumped)):
            result.lines_changed.append(lines_changed(source, text))
            result.comments_total += sum(original.values())
            result.comments_kept += sum((original & comments(text)).values())
    return ours, theirs, mismatches, refused


def table(ours: Result, theirs: Result, mismatches: list[str], refused: list[str]) -> str:
    count = len(ours.seconds)
    rows = [("method", "median ms/file", "total s", "lines changed (median / max)", "comments kept")]
    for name, result in (("otxgen codemods", ours), ("Config load + pretty_text", theirs)):
        kept = 100.0 * result.comments_kept / max(result.comments_total, 1)
        rows.append(
            (
                name,
                f"{1000 * statistics.median(result.seconds):.2f}",
                f"{sum(result.seconds):.2f}",
                f"{statistics.median(result.lines_changed):.0f} / {max(result.lines_changed)}",
                f"{result.comments_kept}/{result.comments_total} ({kept:.0f}%)",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    ratio = statistics.median(theirs.seconds) / statistics.median(ours.seconds)
    total_ratio = sum(theirs.seconds) / sum(ours.seconds)
    lines.append(f"\n{count} configs; speed-up {ratio:.0f}x (median per file), {total_ratio:.0f}x (total)")
    lines.append(f"results that load to the same config with both methods: {count - len(mismatches)}/{count}")
    lines.extend(f"  - {mismatch}" for mismatch in mismatches)
    lines.append(f"refused by otxgen (exit 2, each with its reason; not compared): {len(refused)}")
    lines.extend(f"  - {reason}" for reason in refused)
    return "\n".join(lines)


PROCESS_CONFIG = "retinanet/retinanet_r50_fpn_1x_coco.py"


# What otxgen's swap cannot start without: the libraries its codemods and its command line are made of
# (jsonschema only explains a backbone that ``otxgen.validate.conforms`` cannot prove valid).
# Their imports alone, in a process of their own, are the floor of the whole-process figure.
FLOOR_IMPORTS = "import libcst, click"


def processes(root: Path, runs: int) -> tuple[float, float, float]:
    """Median whole-process seconds of otxgen's swap, of mmengine's load-and-dump on the same config,
    and of a process that only imports what the swap is built on (``FLOOR_IMPORTS``), taken in turn."""
    import compileall
    import sys

    from _common import measure_side_by_side

    # otxgen's bytecode as an installed package has it (pip compiles it at install; mmengine's is)
    for package in ("otxgen", "codemods"):
        compileall.compile_dir(Path(__file__).resolve().parent.parent / package, quiet=1)
    config = str(root / PROCESS_CONFIG)
    otxgen = [sys.executable, "-m", "otxgen", "build", "--backbone", "mmdet.RegNet", "--model", config]
    otxgen += ["--no-smoke", "--no-backbone-yaml", "--diff"]
    dump = "import sys; from mmengine.config import Config; Config.fromfile(sys.argv[1]).pretty_text"
    commands = [otxgen, [sys.executable, "-c", dump, config], [sys.executable, "-c", FLOOR_IMPORTS]]
    ours, theirs, floor = measure_side_by_side(commands, runs)
    assert ours.exit_code == 0 and theirs.exit_code == 0 and floor.exit_code == 0, (ours, theirs, floor)
    return ours.median_s, theirs.median_s, floor.median_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="codemod runs per file (the fastest counts)")
    args = parser.parse_args()
    source_root = Path(str(importlib.resources.files("mmdet") / ".mim" / "configs"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "configs"
        shutil.copytree(source_root, root, ignore=shutil.ignore_patterns("__pycache__"))
        paths = pick(root, args.count)
        ours, theirs, mismatches, refused = measure(paths, args.repeat)
        process_ours, process_theirs, floor = processes(root, 5)
    print(table(ours, theirs, mismatches, refused))
    print(
        f"\nwhole process, {PROCESS_CONFIG}: otxgen build --diff {process_ours:.3f} s, "
        f"Config.fromfile + pretty_text {process_theirs:.3f} s (ratio {process_ours / process_theirs:.2f});\n"
        f"'{FLOOR_IMPORTS}' alone {floor:.3f} s (ratio {floor / process_theirs:.2f}): otxgen's own imports and "
        f"work take {process_ours - floor:.3f} s"
    )
    emit_rows(ours, theirs)
    from _common import emit_row

    ok = process_ours <= 0.35 and process_ours <= 0.75 * process_theirs
    emit_row("swap: one config, whole process", process_ours, process_theirs, "s", "<= 0.35 s, ratio <= 0.75", ok)


def emit_rows(ours: Result, theirs: Result) -> None:
    """The headline figures for ``run_all.py``: time per config, and comments kept."""
    from _common import emit_row

    ours_ms, theirs_ms = (1000 * statistics.median(result.seconds) for result in (ours, theirs))
    fast = ours_ms <= 6.0 and ours_ms <= 0.03 * theirs_ms
    emit_row("codemods: median ms per config", ours_ms, theirs_ms, "ms", "<= 6 ms, ratio <= 0.03", fast)
    ours_kept, theirs_kept = (100.0 * r.comments_kept / max(r.comments_total, 1) for r in (ours, theirs))
    emit_row("codemods: comments kept", ours_kept, theirs_kept, "%", "100%", ours.comments_kept == ours.comments_total)


if __name__ == "__main__":
    main()
