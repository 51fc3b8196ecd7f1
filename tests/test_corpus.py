"""The real-config corpus on a CI sample: configs nobody here wrote, 12 per library (fixed seed).

Every config whose original loads, builds and runs (see tests/corpus/sample.py) is swapped to one
target of the rotation; each must pass the checks or be refused with a one-line message (exit 2).
The full run is ``make corpus`` (``tools/corpus.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from corpus.report import listing, summary_table
from corpus.run import run_corpus
from corpus.sample import LIBRARIES

CI_SAMPLE = 12
CI_SEED = 0
# Found, not imported: the harness imports each library in its own interpreter.
MISSING = [name for name in ("mmengine", *LIBRARIES, "pytorchcv") if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(bool(MISSING), reason="the [mm] extra is not installed")
def test_every_swapped_real_config_passes_or_is_refused(tmp_path: Path) -> None:
    records = run_corpus(LIBRARIES, CI_SAMPLE, CI_SEED, work=tmp_path)
    swapped = [record for record in records if record.verdict != "excluded"]
    for library in LIBRARIES:
        assert sum(record.library == library for record in swapped) == CI_SAMPLE, summary_table(records)
    failed = [record for record in swapped if record.verdict == "failed"]
    assert not failed, f"{len(failed)} swap(s) failed:\n{listing(failed)}\n\n{summary_table(records)}"
