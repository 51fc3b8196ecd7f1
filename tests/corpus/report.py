"""The report of a corpus run: the summary table (markdown) and the listing of chosen records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from corpus.run import Record


def rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def table_row(name: str, records: Sequence[Record]) -> str:
    count = Counter(record.verdict for record in records)
    swapped = len(records) - count["excluded"]
    cells = [name, len(records), count["excluded"], swapped, count["passed"], count["refused"], count["failed"]]
    cells += [rate(count["passed"] + count["refused"], swapped), rate(count["passed"], swapped)]
    cells.append(f"{sum(record.seconds for record in records):.0f}")
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def summary_table(records: Sequence[Record]) -> str:
    header = "| library | sampled | original-broken (excluded) | swapped | passed | refused | failed |"
    header += " (passed+refused)/swapped | passed/swapped | seconds |"
    lines = [header, "|" + "---|" * 10]
    libraries = list(dict.fromkeys(record.library for record in records))
    lines += [table_row(library, [r for r in records if r.library == library]) for library in libraries]
    lines.append(table_row("all", records))
    return "\n".join(lines)


def listing(records: Sequence[Record]) -> str:
    return "\n".join(f"- {r.library} `{r.config}`{targeted(r)}: {r.reason}" for r in records)


def targeted(record: Record) -> str:
    return f" -> `{record.target}` ({record.target_kind})" if record.target else ""
