"""``fixtures/validate/{positive,negative}/<case>/`` walked by one test, as check-jsonschema keeps its
examples: ``otxgen validate`` on a positive case finds nothing (exit 0, not even a note); on a negative
case it exits 1 with every line of the case's ``expected.txt`` among its findings. Core install only."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.cli import main

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "validate"


def _cases(kind: str) -> list[Path]:
    return sorted(path for path in (CASES / kind).iterdir() if path.is_dir())


@pytest.mark.parametrize("case", _cases("positive"), ids=lambda path: path.name)
def test_a_positive_case_has_no_finding(case: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(case)])
    assert (result.exit_code, result.stdout) == (0, ""), result.stdout + result.stderr


@pytest.mark.parametrize("case", _cases("negative"), ids=lambda path: path.name)
def test_a_negative_case_says_each_expected_finding(case: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(case)])
    assert result.exit_code == 1, result.stdout + result.stderr
    for line in (case / "expected.txt").read_text().splitlines():
        assert any(line in found for found in result.stdout.splitlines()), (line, result.stdout)
