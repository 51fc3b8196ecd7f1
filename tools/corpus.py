"""``make corpus``: swap the backbone of a sample of the configs shipped in mmdet, mmseg and mmpretrain.

Progress goes to stderr (one line per config); the summary table and the failures, as markdown, go
to stdout. See tests/corpus/ for what is sampled (sample.py), which targets (targets.py), and the checks
(checks.py).

    .venv/bin/python tools/corpus.py --per-library 12 --library mmseg --out corpus.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

# The harness lives with the tests (tests/corpus/), which are not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from corpus.report import listing, summary_table
from corpus.run import Record, run_corpus
from corpus.sample import LIBRARIES


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-library", type=int, default=50, metavar="N", help="configs swapped per library")
    parser.add_argument("--library", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle that orders the walk")
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="write every record here")
    parser.add_argument(
        "--list-failures", action="store_true", help="also list the refused and the excluded configs with reasons"
    )
    return parser.parse_args(argv)


def report(records: Sequence[Record], list_all: bool) -> str:
    note = "sampled: configs walked; swapped: sampled minus excluded; seconds: the sum over its configs."
    parts = [summary_table(records), "", note]
    sections = [("failed", "Failures")]
    if list_all:
        sections += [("refused", "Refused (exit 2)"), ("excluded", "Excluded originals")]
    for verdict, title in sections:
        chosen = [record for record in records if record.verdict == verdict]
        parts += ["", f"### {title} ({len(chosen)})", "", listing(chosen) or "(none)"]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    start = time.monotonic()
    records = run_corpus(options.library, options.per_library, options.seed)
    print(f"corpus: {len(records)} configs walked in {time.monotonic() - start:.0f} s", file=sys.stderr)
    if options.out is not None:
        options.out.write_text(json.dumps([asdict(record) for record in records], indent=1) + "\n")
    print(report(records, options.list_failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
