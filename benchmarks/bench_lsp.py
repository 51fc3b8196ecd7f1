"""Benchmark: ``otxgen lsp`` as an editor meets it, side by side with ``otxgen validate`` as a process.

A started server (pygls's own client over stdio) is timed on:

- the first diagnostics of a shipped mmdet config (``retinanet/retinanet_r50_fpn_1x_coco.py`` over its
  bases), from ``didOpen`` to ``publishDiagnostics``: target 300 ms;
- a change to diagnostics on a 200-line config over a 3-file ``_base_`` chain (the median of 20 edits,
  each waiting for its diagnostics): target 50 ms median;
- the completion of backbone types after ``type='`` (median of 20): target 30 ms;
- the server's resident memory after all of it: target 100 MiB;

beside ``otxgen validate`` on the same shipped config as a whole process (what the editor would pay
without the server). Run with the [lsp] extra:

    python benchmarks/bench_lsp.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from _common import emit_row, measure
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

FIRST_MS, CHANGE_MS, COMPLETION_MS, MEMORY_MIB = 300.0, 50.0, 30.0, 100.0
STARTED_S = 3.0
# found without importing mmdet (which imports torch: the processes this one starts would inherit its memory)
CONFIGS = Path(next(iter(find_spec("mmdet").submodule_search_locations or []))) / ".mim" / "configs"  # type: ignore[union-attr]


def chain(root: Path) -> Path:
    """A 200-line config over a 3-file chain of bases written here (each a real mmdet base's content)."""
    (root / "chain").mkdir()
    shutil.copy(CONFIGS / "_base_" / "models" / "retinanet_r50_fpn.py", root / "chain" / "base_a.py")
    (root / "chain" / "base_b.py").write_text(
        "_base_ = ['./base_a.py']\nmodel = dict(bbox_head=dict(num_classes=20))\n"
    )
    (root / "chain" / "base_c.py").write_text("_base_ = ['./base_b.py']\nmodel = dict(neck=dict(num_outs=5))\n")
    body = "".join(f"setting_{i} = dict(value={i}, name='s{i}')  # line {i}\n" for i in range(196))
    path = root / "chain" / "model.py"
    path.write_text(
        "_base_ = ['./base_c.py']\n" + body + "model = dict(\n    neck=dict(in_channels=[256, 512, 1024, 2048]))\n"
    )
    return path


async def measured(shipped: Path, chained: Path, runs: int) -> dict[str, float]:
    client = LanguageClient("bench", "1")
    published: asyncio.Queue[lsp.PublishDiagnosticsParams] = asyncio.Queue()

    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(on_diagnostics)
    await client.start_io(sys.executable, "-m", "otxgen", "lsp")
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    client.initialized(lsp.InitializedParams())
    await asyncio.sleep(STARTED_S)  # a started server: it reads what its first check needs as it starts
    figures = {}

    start = time.perf_counter()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(shipped.as_uri(), "python", 1, shipped.read_text()))
    )
    await published.get()
    figures["first"] = (time.perf_counter() - start) * 1000

    text = chained.read_text()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(chained.as_uri(), "python", 1, text))
    )
    await published.get()
    changes = []
    for version in range(2, runs + 2):
        edited = text.replace("value=7,", f"value={version},")
        start = time.perf_counter()
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version, chained.as_uri()),
                [lsp.TextDocumentContentChangeWholeDocument(edited)],
            )
        )
        await published.get()
        changes.append((time.perf_counter() - start) * 1000)
    figures["change"] = statistics.median(changes)

    line = "model = dict(backbone=dict(type='mmdet.Res"
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(runs + 2, chained.as_uri()),
            [lsp.TextDocumentContentChangeWholeDocument(text + line)],
        )
    )
    await published.get()
    where = lsp.Position(len(text.split("\n")) - 1, len(line))
    completions = []
    for _ in range(runs):
        start = time.perf_counter()
        await client.text_document_completion_async(
            lsp.CompletionParams(lsp.TextDocumentIdentifier(chained.as_uri()), where)
        )
        completions.append((time.perf_counter() - start) * 1000)
    figures["completion"] = statistics.median(completions)

    pid = client._server.pid if client._server else None  # the process the client started
    status = Path(f"/proc/{pid}/status").read_text() if pid else ""
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
    figures["memory"] = rss / 1024

    # informative: what a long-running server keeps after a 3 MB buffer (60,000 statements) is closed
    large = chained.with_name("large.py")
    large.write_text(text + "".join(f"v{i} = dict(a=[{i}, {i + 1}], b='x{i}', c=(1, 2))\n" for i in range(60000)))
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(large.as_uri(), "python", 1, large.read_text()))
    )
    await published.get()
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(large.as_uri())))
    await published.get()
    status = Path(f"/proc/{pid}/status").read_text() if pid else ""
    figures["after_large"] = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)
    figures["after_large"] /= 1024
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()  # type: ignore[no-untyped-call]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(CONFIGS / "_base_", root / "_base_")
        (root / "retinanet").mkdir()
        for name in ("retinanet_r50_fpn_1x_coco.py", "retinanet_tta.py"):
            shutil.copy(CONFIGS / "retinanet" / name, root / "retinanet" / name)
        shipped = root / "retinanet" / "retinanet_r50_fpn_1x_coco.py"
        figures = asyncio.run(measured(shipped, chain(root), args.runs))
        process = measure([sys.executable, "-m", "otxgen", "validate", str(shipped)], 5)
    validate_ms = process.median_s * 1000
    table = [
        ("first diagnostics of a shipped config, ms", figures["first"], validate_ms, FIRST_MS),
        ("a change to diagnostics (median), ms", figures["change"], validate_ms, CHANGE_MS),
        ("completion of backbone types (median), ms", figures["completion"], None, COMPLETION_MS),
        ("server peak memory, MiB", figures["memory"], process.peak_mib, MEMORY_MIB),
    ]
    print(f"{'figure':<44} {'otxgen lsp':>11} {'validate process':>17} target")
    for name, ours, theirs, goal in table:
        shown = f"{theirs:>17.1f}" if theirs is not None else " " * 17
        print(f"{name:<44} {ours:>11.1f} {shown} {goal:.0f}")
    print(f"{'server memory after a 3 MB buffer closed, MiB':<44} {figures['after_large']:>11.1f} (informative)")
    rows = [
        (
            "lsp: first diagnostics, shipped config",
            figures["first"],
            validate_ms,
            "ms",
            f"<= {FIRST_MS:.0f} ms",
            FIRST_MS,
        ),
        (
            "lsp: a change to diagnostics (median)",
            figures["change"],
            validate_ms,
            "ms",
            f"<= {CHANGE_MS:.0f} ms",
            CHANGE_MS,
        ),
        (
            "lsp: completion of types (median)",
            figures["completion"],
            None,
            "ms",
            f"<= {COMPLETION_MS:.0f} ms",
            COMPLETION_MS,
        ),
        ("lsp: server peak memory", figures["memory"], process.peak_mib, "MiB", f"<= {MEMORY_MIB:.0f} MiB", MEMORY_MIB),
    ]
    worst = 0
    for figure, value, baseline, unit, target, limit in rows:
        emit_row(figure, value, baseline, unit, target, value <= limit)
        worst = max(worst, 0 if value <= limit else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
